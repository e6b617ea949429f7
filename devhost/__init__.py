"""The local development host: serves function_app.app over HTTP and runs its timers (development only)."""
