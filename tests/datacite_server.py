"""A local stand-in for DataCite's REST API (https://support.datacite.org/docs/api), for the DOI tests.

DataCite cannot be reached from the test machine, so this server plays it on 127.0.0.1 and
checks every request against DataCite's documented contract, refusing what DataCite would:

- `POST /dois` creates a DOI, `PUT /dois/<doi>` updates one (or creates it, as DataCite does);
  any other method or path is 404/405;
- HTTP Basic auth with the repository id and password, else 401 `Bad credentials.`;
- `Content-Type: application/vnd.api+json`, else 415;
- a JSON:API document `{"data": {"type": "dois", "attributes": {...}}}`, else 400/422;
- attributes from DataCite's list only (unpermitted ones are refused with 422, as DataCite does);
- a DOI (`doi`, or a `prefix` for DataCite to choose a suffix) under the repository's prefix,
  else 403; one that exists already is refused on POST with 422 `This DOI has already been taken`;
- `event` one of publish, register, hide; a DOI going findable or registered needs `url`
  (http/https), `creators` (each with a name), `titles` (each with a title), `publisher`,
  `publicationYear` (four digits) and `types.resourceTypeGeneral` (from the schema's list),
  each missing one answered 422 with `{"errors": [{"source": ..., "title": "can't be blank"}]}`;
- state moves as DataCite's REST API guide documents them ("Updating DOIs with the REST API"):
  `publish` from draft or registered to findable, `register` from draft to registered, `hide`
  from findable to registered; no event keeps the state. Any other move (hiding a draft,
  registering a findable DOI) is ignored and the state kept, as DataCite's own server does (its
  state machine is not "whiny": the answer is 200 with the unchanged `state`), so a client must
  read the state it is answered. A findable or registered DOI never goes back to draft.

Answers are JSON:API documents (`data.id` the DOI, `data.attributes.state`). `fail_with` makes
the next requests fail with a status (e.g. 503) to play an outage; `requests` keeps what came in.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CONTENT_TYPE = "application/vnd.api+json"
# DataCite Metadata Schema 4.6, resourceTypeGeneral.
RESOURCE_TYPES = {
    "Audiovisual", "Award", "Book", "BookChapter", "Collection", "ComputationalNotebook", "ConferencePaper",
    "ConferenceProceeding", "DataPaper", "Dataset", "Dissertation", "Event", "Image", "Instrument",
    "InteractiveResource", "Journal", "JournalArticle", "Model", "OutputManagementPlan", "PeerReview",
    "PhysicalObject", "Preprint", "Project", "Report", "Service", "Software", "Sound", "Standard",
    "StudyRegistration", "Text", "Workflow", "Other",
}  # fmt: skip
# The attributes DataCite's REST API takes for a DOI (metadata kernel-4 in JSON, and its own).
ATTRIBUTES = {
    "doi", "prefix", "suffix", "url", "event", "xml", "identifiers", "alternateIdentifiers", "creators",
    "titles", "publisher", "container", "publicationYear", "subjects", "contributors", "dates", "language",
    "types", "relatedIdentifiers", "relatedItems", "sizes", "formats", "version", "rightsList", "descriptions",
    "geoLocations", "fundingReferences", "schemaVersion", "contentUrl", "landingPage",
}  # fmt: skip
# event: (the states it moves from, the state it moves to)
MOVES = {
    "publish": ({"draft", "registered"}, "findable"),
    "register": ({"draft"}, "registered"),
    "hide": ({"findable"}, "registered"),
}
EVENTS = set(MOVES)
_YEAR = re.compile(r"^\d{4}$")


@dataclass
class DataCiteServer:
    url: str
    username: str
    password: str
    prefix: str
    dois: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    fail_with: list[int] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server_state: DataCiteServer

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, document: dict[str, Any]) -> None:
        body = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _errors(self, status: int, *errors: tuple[str | None, str]) -> None:
        listed = [
            {"status": str(status), "title": title, **({"source": source} if source else {})}
            for source, title in errors
        ]
        self._answer(status, {"errors": listed})

    def do_GET(self) -> None:
        self._errors(405, (None, "Method not allowed"))

    def do_DELETE(self) -> None:
        self._errors(405, (None, "Method not allowed"))

    def do_POST(self) -> None:
        self._write(create=True)

    def do_PUT(self) -> None:
        self._write(create=False)

    def _authorized(self) -> bool:
        state = self.server_state
        scheme, _, value = self.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return False
        return (user, password) == (state.username, state.password)

    def _write(self, *, create: bool) -> None:
        state = self.server_state
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        record: dict[str, Any] = {"method": self.command, "path": self.path, "headers": dict(self.headers)}
        state.requests.append(record)
        if state.fail_with:
            self._errors(state.fail_with.pop(0), (None, "Service unavailable"))
            return
        if (create and self.path != "/dois") or (not create and not self.path.startswith("/dois/")):
            self._errors(404, (None, "The resource you are looking for doesn't exist."))
            return
        if not self._authorized():
            self._errors(401, (None, "Bad credentials."))
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip() != CONTENT_TYPE:
            self._errors(415, (None, f"The content type must be {CONTENT_TYPE}."))
            return
        try:
            document = json.loads(raw)
        except ValueError:
            self._errors(400, (None, "You need to provide a payload following the JSONAPI spec"))
            return
        record["body"] = document
        data = document.get("data") if isinstance(document, dict) else None
        if not isinstance(data, dict) or data.get("type") != "dois" or not isinstance(data.get("attributes"), dict):
            self._errors(422, ("data", "You need to provide a payload following the JSONAPI spec"))
            return
        attributes: dict[str, Any] = data["attributes"]
        unpermitted = sorted(set(attributes) - ATTRIBUTES)
        if unpermitted:
            self._errors(422, (None, f"found unpermitted parameter: {', '.join(unpermitted)}"))
            return
        doi = self._doi(attributes, create=create)
        if doi is None:
            return
        previous = state.dois.get(doi)
        if create and previous is not None:
            self._errors(422, ("doi", "This DOI has already been taken"))
            return
        event = attributes.get("event")
        if event is not None and event not in EVENTS:
            self._errors(422, ("event", f"{event} is not a valid event"))
            return
        merged = {**(previous or {}), **{key: value for key, value in attributes.items() if key != "event"}}
        current = previous["state"] if previous else "draft"
        sources, target = MOVES.get(event or "", (set(), current))
        new_state = target if current in sources else current
        if new_state != "draft":
            problems = _required(merged)
            if problems:
                self._errors(422, *problems)
                return
        merged.update(doi=doi, state=new_state, prefix=doi.partition("/")[0], suffix=doi.partition("/")[2])
        state.dois[doi] = merged
        self._answer(201 if previous is None else 200, {"data": {"id": doi, "type": "dois", "attributes": merged}})

    def _doi(self, attributes: dict[str, Any], *, create: bool) -> str | None:
        state = self.server_state
        if not create:
            doi = self.path.removeprefix("/dois/").lower()
            if attributes.get("doi") and str(attributes["doi"]).lower() != doi:
                self._errors(422, ("doi", "The DOI in the body differs from the one in the URL"))
                return None
        elif attributes.get("doi"):
            doi = str(attributes["doi"]).lower()
        elif attributes.get("prefix"):
            doi = f"{attributes['prefix']}/generated-{len(state.dois) + 1}".lower()
        else:
            self._errors(422, ("doi", "can't be blank"))
            return None
        prefix, _, suffix = doi.partition("/")
        if not suffix or not prefix.startswith("10."):
            self._errors(422, ("doi", "is invalid"))
            return None
        if prefix != state.prefix:
            self._errors(403, (None, "You are not authorized to access this resource."))
            return None
        return doi


def _required(attributes: dict[str, Any]) -> list[tuple[str | None, str]]:
    """What a findable or registered DOI must have (DataCite's mandatory properties)."""
    problems: list[tuple[str | None, str]] = []
    url = attributes.get("url")
    if not isinstance(url, str) or not re.match(r"^https?://\S+$", url):
        problems.append(("url", "can't be blank" if not url else "is not a valid URL"))
    creators = attributes.get("creators")
    if (
        not isinstance(creators, list)
        or not creators
        or not all(isinstance(c, dict) and c.get("name") for c in creators)
    ):
        problems.append(("creators", "can't be blank"))
    titles = attributes.get("titles")
    if not isinstance(titles, list) or not titles or not all(isinstance(t, dict) and t.get("title") for t in titles):
        problems.append(("titles", "can't be blank"))
    publisher = attributes.get("publisher")
    if not (isinstance(publisher, str) and publisher) and not (isinstance(publisher, dict) and publisher.get("name")):
        problems.append(("publisher", "can't be blank"))
    if not _YEAR.match(str(attributes.get("publicationYear", ""))):
        problems.append(("publicationYear", "can't be blank"))
    types = attributes.get("types")
    general = types.get("resourceTypeGeneral") if isinstance(types, dict) else None
    if general not in RESOURCE_TYPES:
        problems.append(("types", "resourceTypeGeneral can't be blank" if not general else f"{general} is not valid"))
    return problems


# The repository account the server accepts (test values, nothing real).
TEST_ACCOUNT = ("TEST.PACKAGER", "test-password-" + "datacite")


def start(*, prefix: str = "10.5072") -> Iterator[DataCiteServer]:
    username, password = TEST_ACCOUNT
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    state = DataCiteServer(
        url=f"http://127.0.0.1:{httpd.server_address[1]}", username=username, password=password, prefix=prefix
    )
    handler = type("Handler", (_Handler,), {"server_state": state})
    httpd.RequestHandlerClass = handler
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
