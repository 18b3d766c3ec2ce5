"""The card templates (Jinja2 Markdown, one per card kind; see README.md here) as package data.

The directory keeps its place at the top of the repository (the product's design card) and is
a package so that the wheel carries it: `cds_service.cards` loads the templates from here
whether the service runs from the source tree or from an installed wheel (the Docker image).
"""
