"""Modal: the app built from a pin, the SDK boundary, operations and app naming.

The only place (with the modal adapter) that imports the ``modal`` SDK, always lazily. ``boundary``
makes the SDK calls and translates SDK exceptions into the canon; ``app`` builds the deployed
function; ``ops`` deploys, syncs secrets, reports status; ``naming`` computes app names.
"""
