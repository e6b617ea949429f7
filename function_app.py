"""The Function App: builds it and registers the blueprints; nothing else."""
import azure.functions as func

from functions import aftercare, alerts, health, incidents, metrics, oncall, status, timers

app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
for blueprint in (alerts.bp, incidents.bp, aftercare.bp, oncall.bp, health.bp, status.bp, timers.bp, metrics.bp):
    app.register_functions(blueprint)
