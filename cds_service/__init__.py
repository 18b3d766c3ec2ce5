"""Transport layer: CDS Hooks service, FHIR client, CLI, demo and synthetic cohort."""
