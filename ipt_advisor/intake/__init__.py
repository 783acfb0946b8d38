"""The intake: its schema and validation, whole corpora, the facts it gives the rules, FHIR in."""
