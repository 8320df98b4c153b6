"""The processor registry: refs, loading ``registry/processors.yaml``, round-trip edits.

``refs`` parses ``ns/name@version``; ``load`` validates the YAML and resolves a ref to a processor
folder on disk; ``models`` are the registry entries; ``edit`` changes pins and the base image with
comments and order kept, atomically.
"""
