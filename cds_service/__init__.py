"""Transport layer: the CDS Hooks service, the SMART app and its assessment API, the FHIR
client, the store. The command line is icaht_cli/, the demo kit icaht_demo/."""
