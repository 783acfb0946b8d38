"""The decision in words: rule wording, the report view, rendering, charts, FHIR and CDS Hooks out."""
