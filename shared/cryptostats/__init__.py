"""Code both cryptostats processes agree on: settings, the trigger message, Redis keys, logging."""
