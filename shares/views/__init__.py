"""The share views, one module per page family; shares/urls.py routes to them.

- access: who may see a share and download from it (open, password, Basic auth),
- pages: the share page, a file's page, the waiting page,
- downloads: ZIP, urls.txt, direct lists, manifest, datapackage,
- citation: CITATION.cff, datacite.xml, ro-crate-metadata.json, citation.bib, citation.ris,
- resolve: one file to a signed storage URL (by path, by hash, DVC remote), also used by
  the fast lane (shares.middleware),
- repositories: the git-annex and DVC repositories,
- owner: the owner's pages (create, revoke, access log),
- catalog: every share the user can see, and bulk revoke.
"""
