"""Code baked into every image: the spawn helper, the scrubbed child environment, the container entry.

Standard library only, because it runs inside processor images that carry nothing but Python and
the processor's own requirements. The local adapter uses the same spawn helper on the host, so a
processor sees one way of being run whatever the adapter.
"""
