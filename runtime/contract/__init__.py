"""The wire contract between host and processor: models, envelope judging, schemas, compatibility.

``wire`` holds the typed messages (payload, envelope, receipt); ``envelope`` parses a child's stdout
and judges it; ``schemas`` loads and enforces each processor version's input and output JSON
Schemas; ``compat`` decides whether a schema change keeps a version's promise. The exported JSON
Schemas of the wire models live beside them in ``exported/``.
"""
