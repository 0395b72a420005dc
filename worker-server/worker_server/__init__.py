"""The cryptostats worker: publishes update triggers on a schedule."""
