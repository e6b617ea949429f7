"""Pure domain: no azure.*, no requests, no os.environ, no clock reads."""
