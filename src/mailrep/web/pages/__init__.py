"""The HTML pages (Jinja2 templates and static files); they come with the pages issue."""
