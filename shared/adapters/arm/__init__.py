"""Azure Resource Manager adapter: the CloudResources port on the management SDKs (loaded lazily)."""
from shared.adapters.arm.ids import ArmId, parse_arm_id
from shared.adapters.arm.resources import ArmResources

__all__ = ["ArmId", "ArmResources", "parse_arm_id"]
