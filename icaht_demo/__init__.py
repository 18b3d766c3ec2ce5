"""The demo kit: everything `icaht-cds demo` and the tests need that serves no request.

    synthetic/      the deterministic synthetic CAR-T cohort and the story patients (FHIR R4
                    transaction Bundles) and the loader that seeds them into a FHIR server
    fhir_server.py  the embedded FHIR server (sekmet-fhir in .state/fhir-venv), free_port
    ehr_client.py   the demo EHR client: an ES384 key pair, its clients file, signed request JWTs
    runner.py       the embedded default: FHIR server + cohort + service on loopback

It stands above the service (it may import cds_service, fhir_mappings and icaht); nothing in
cds_service imports it. The command line (icaht_cli) stands above it.
"""
