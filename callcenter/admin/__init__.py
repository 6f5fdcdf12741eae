"""The administration console (``/admin``): accounts, merchant and terminal CSV imports, the
audit log. ``web.py`` holds the handlers; the use cases are ``callcenter.service``'s."""
