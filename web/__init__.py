"""Web helpers shared by every app (request types, pagination parameters, breadcrumbs,
the client's address).

A layer below the apps: it imports none of them, so `shares`, `packager` and `sources` can
all build on it while their own dependencies keep pointing one way (shares → packager →
sources).
"""
