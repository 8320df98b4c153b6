"""Images: the engine client, hermetic builds, the OCI registry, the base image, change detection.

``content`` is the one definition of what every image carries; the build context and the change
detector both derive from it. The Docker SDK is imported only here and in the docker adapter.
"""
