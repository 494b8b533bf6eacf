#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Mock of the EC2 instance metadata service (IMDS) for kiln's tests.

The mock speaks HTTP/1.1 with keep-alive, serves a plausible EC2 instance, and
follows a JSON scenario that changes the data, the IMDSv2 token rules and the
faults it injects (refused connections, error bursts, delays, truncated
bodies, dropped connections). Every request is written to a JSON-lines log.
It is meant to run inside a private network namespace where 169.254.169.254
and fd00:ec2::254 sit on the loopback device. tests/imds/README.md describes
the scenario format.

Only the Python 3 standard library is used.
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import re
import secrets
import selectors
import signal
import socket
import sys
import threading
import time
import urllib.parse

DEFAULT_LISTEN = ("169.254.169.254:80", "[fd00:ec2::254]:80")

TOKEN_PATH = "/latest/api/token"
TOKEN_HEADER = "X-aws-ec2-metadata-token"
TOKEN_TTL_HEADER = "X-aws-ec2-metadata-token-ttl-seconds"
TOKEN_TTL_MIN_SECONDS = 1
TOKEN_TTL_MAX_SECONDS = 21600
TOKEN_MODES = ("required", "optional", "unsupported")

# A request body larger than this gets 413, and the connection is closed.
# Clients of the metadata service send no body at all.
MAX_REQUEST_BODY_BYTES = 64 * 1024
# An idle keep-alive connection is closed after this many seconds.
IDLE_TIMEOUT_SECONDS = 120

# API versions listed at "/", in the order EC2 lists them. Every version
# serves the same data as "latest".
API_VERSIONS = (
    "1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10",
    "2007-12-15", "2008-02-01", "2008-09-01", "2009-04-04", "2011-01-01",
    "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05", "2015-10-20",
    "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17",
    "2018-09-24", "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23",
    "2021-07-15", "2022-09-24", "latest",
)

META_DATA = "/latest/meta-data/"
USER_DATA_PATH = "/latest/user-data"
IDENTITY_DOCUMENT_PATH = "/latest/dynamic/instance-identity/document"
PUBLIC_KEYS_DIR = META_DATA + "public-keys/"
TAGS_DIR = META_DATA + "tags/instance/"

DEFAULT_INSTANCE = {
    "instance-id": "i-0123456789abcdef0",
    "local-hostname": "ip-192-0-2-10.ec2.internal",
    "local-ipv4": "192.0.2.10",
    "availability-zone": "us-east-1a",
    "region": "us-east-1",
    "account-id": "123456789012",
    "ami-id": "ami-0123456789abcdef0",
    "instance-type": "t3.micro",
    "mac": "0e:12:34:56:78:9a",
}
DEFAULT_PUBLIC_KEYS = {"test-key": "ssh-ed25519 AAAA...test test-key"}

# The body EC2 sends with a 404, byte for byte, with the status filled in.
ERROR_PAGE = (
    '<?xml version="1.0" encoding="iso-8859-1"?>\n'
    '<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"\n'
    '\t\t "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">\n'
    '<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en">\n'
    " <head>\n"
    "  <title>{status} - {reason}</title>\n"
    " </head>\n"
    " <body>\n"
    "  <h1>{status} - {reason}</h1>\n"
    " </body>\n"
    "</html>\n"
)

SCENARIO_KEYS = frozenset({
    "description", "tokens", "token_put_status", "token_max_uses",
    "token_value", "paths", "user_data_file", "tags", "public_keys", "faults",
})
PATH_OBJECT_KEYS = frozenset({"status", "body", "body_base64", "headers"})
FAULT_KEYS = {
    "refuse": frozenset({"seconds"}),
    "status": frozenset({"status", "count", "retry_after", "method", "path"}),
    "delay": frozenset({"seconds", "count", "method", "path"}),
    "truncate": frozenset({"count", "method", "path"}),
    "close": frozenset({"count", "method", "path"}),
    "status_all": frozenset({"status", "retry_after", "method", "path"}),
}
FAULT_REQUIRED_KEYS = {
    "refuse": frozenset({"seconds"}),
    "status": frozenset({"status"}),
    "delay": frozenset({"seconds"}),
    "truncate": frozenset(),
    "close": frozenset(),
    "status_all": frozenset({"status"}),
}


class ScenarioError(Exception):
    """An invalid scenario file; the message names the key and the value."""


class StartupError(Exception):
    """A listener could not be bound or the ready file not written."""


class Response:
    """One HTTP response: status, headers without Content-Length, body bytes."""

    def __init__(self, status, body=b"", headers=None):
        self.status = status
        self.body = body
        self.headers = dict(headers or {})

    def copy(self):
        return Response(self.status, self.body, self.headers)


def reason_phrase(status):
    try:
        return http.HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def error_response(status, headers=None):
    """Build an error response with EC2's XHTML error page as the body."""
    page = ERROR_PAGE.format(status=status, reason=reason_phrase(status))
    all_headers = {"Content-Type": "text/html"}
    all_headers.update(headers or {})
    return Response(status, page.encode("ascii"), all_headers)


def text_response(text, content_type="text/plain"):
    return Response(200, text.encode("utf-8"), {"Content-Type": content_type})


def default_content_type(path):
    if path == USER_DATA_PATH:
        return "application/octet-stream"
    return "text/plain"


def default_leaves():
    """Return the default instance's metadata leaves, keyed by full path."""
    inst = DEFAULT_INSTANCE
    mac_dir = META_DATA + "network/interfaces/macs/" + inst["mac"] + "/"
    values = {
        META_DATA + "ami-id": inst["ami-id"],
        META_DATA + "ami-launch-index": "0",
        META_DATA + "ami-manifest-path": "(unknown)",
        META_DATA + "block-device-mapping/ami": "/dev/xvda",
        META_DATA + "block-device-mapping/root": "/dev/xvda",
        META_DATA + "hostname": inst["local-hostname"],
        META_DATA + "instance-action": "none",
        META_DATA + "instance-id": inst["instance-id"],
        META_DATA + "instance-life-cycle": "on-demand",
        META_DATA + "instance-type": inst["instance-type"],
        META_DATA + "local-hostname": inst["local-hostname"],
        META_DATA + "local-ipv4": inst["local-ipv4"],
        META_DATA + "mac": inst["mac"],
        mac_dir + "device-number": "0",
        mac_dir + "interface-id": "eni-0123456789abcdef0",
        mac_dir + "local-hostname": inst["local-hostname"],
        mac_dir + "local-ipv4s": inst["local-ipv4"],
        mac_dir + "mac": inst["mac"],
        mac_dir + "owner-id": inst["account-id"],
        mac_dir + "subnet-id": "subnet-0123456789abcdef0",
        mac_dir + "subnet-ipv4-cidr-block": "192.0.2.0/24",
        mac_dir + "vpc-id": "vpc-0123456789abcdef0",
        mac_dir + "vpc-ipv4-cidr-blocks": "192.0.2.0/24",
        META_DATA + "placement/availability-zone": inst["availability-zone"],
        META_DATA + "placement/availability-zone-id": "use1-az1",
        META_DATA + "placement/region": inst["region"],
        META_DATA + "profile": "default-hvm",
        META_DATA + "reservation-id": "r-0123456789abcdef0",
        META_DATA + "security-groups": "default",
        META_DATA + "services/domain": "amazonaws.com",
        META_DATA + "services/partition": "aws",
    }
    return {path: text_response(value) for path, value in values.items()}


def identity_document(leaves):
    """Build the instance identity document from the effective metadata.

    A value that the scenario replaced is taken from the scenario, so the
    document always agrees with the meta-data tree.
    """
    def value(name, fallback):
        leaf = leaves.get(META_DATA + name)
        if leaf is None or leaf.status != 200:
            return fallback
        return leaf.body.decode("utf-8", errors="replace")

    inst = DEFAULT_INSTANCE
    document = {
        "accountId": inst["account-id"],
        "architecture": "x86_64",
        "availabilityZone": value("placement/availability-zone", inst["availability-zone"]),
        "billingProducts": None,
        "devpayProductCodes": None,
        "marketplaceProductCodes": None,
        "imageId": value("ami-id", inst["ami-id"]),
        "instanceId": value("instance-id", inst["instance-id"]),
        "instanceType": value("instance-type", inst["instance-type"]),
        "kernelId": None,
        "pendingTime": "2024-01-01T00:00:00Z",
        "privateIp": value("local-ipv4", inst["local-ipv4"]),
        "ramdiskId": None,
        "region": value("placement/region", inst["region"]),
        "version": "2017-09-30",
    }
    return text_response(json.dumps(document, indent=2))


TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", dict: "an object", list: "a list"}


def require_type(value, types, where):
    # bool is a subclass of int, so it is rejected wherever a number is expected.
    if not isinstance(value, types) or (isinstance(value, bool) and bool not in types):
        expected = " or ".join(TYPE_NAMES[t] for t in types)
        raise ScenarioError(f"{where}: expected {expected}, got {json.dumps(value)}")
    return value


def require_int(value, where, minimum, maximum=None):
    require_type(value, (int,), where)
    if value < minimum or (maximum is not None and value > maximum):
        upper = "" if maximum is None else f"..{maximum}"
        raise ScenarioError(f"{where}: {value} is out of range {minimum}{upper}")
    return value


def require_seconds(value, where):
    require_type(value, (int, float), where)
    if value < 0:
        raise ScenarioError(f"{where}: {value} is negative")
    return float(value)


def check_keys(obj, allowed, required, where):
    unknown = sorted(set(obj) - allowed)
    if unknown:
        raise ScenarioError(f"{where}: unknown key '{unknown[0]}'")
    missing = sorted(required - set(obj))
    if missing:
        raise ScenarioError(f"{where}: missing key '{missing[0]}'")


def check_path_segment(name, where):
    if name in ("", ".", "..") or "/" in name or "\n" in name:
        raise ScenarioError(f"{where}: invalid name '{name}'")


def parse_path_value(path, value):
    """Turn one value of the scenario's "paths" object into a Response."""
    where = f"paths['{path}']"
    if isinstance(value, str):
        return Response(200, value.encode("utf-8"), {"Content-Type": default_content_type(path)})
    require_type(value, (dict,), where)
    check_keys(value, PATH_OBJECT_KEYS, frozenset(), where)
    if "body" in value and "body_base64" in value:
        raise ScenarioError(f"{where}: 'body' and 'body_base64' exclude each other")

    status = require_int(value.get("status", 200), where + ".status", 100, 599)
    headers = require_type(value.get("headers", {}), (dict,), where + ".headers")
    for name, header_value in headers.items():
        require_type(header_value, (str,), f"{where}.headers['{name}']")
        if name.lower() in ("content-length", "transfer-encoding", "connection"):
            raise ScenarioError(f"{where}.headers: '{name}' is set by the mock")

    if "body" in value:
        body = require_type(value["body"], (str,), where + ".body").encode("utf-8")
    elif "body_base64" in value:
        encoded = require_type(value["body_base64"], (str,), where + ".body_base64")
        try:
            body = base64.b64decode(encoded, validate=True)
        except ValueError as e:
            raise ScenarioError(f"{where}.body_base64: invalid base64: {e}") from None
    elif status >= 400:
        response = error_response(status)
        response.headers.update(headers)
        return response
    else:
        body = b""

    all_headers = {"Content-Type": default_content_type(path)}
    for name in list(all_headers):
        if any(name.lower() == given.lower() for given in headers):
            del all_headers[name]
    all_headers.update(headers)
    return Response(status, body, all_headers)


class Fault:
    """One entry of the scenario's "faults" list."""

    def __init__(self, index, spec):
        where = f"faults[{index}]"
        require_type(spec, (dict,), where)
        kind = spec.get("type")
        if kind not in FAULT_KEYS:
            raise ScenarioError(f"{where}.type: unknown fault type {json.dumps(kind)}")
        fields = {key: val for key, val in spec.items() if key != "type"}
        check_keys(fields, FAULT_KEYS[kind], FAULT_REQUIRED_KEYS[kind], where)

        self.index = index
        self.type = kind
        self.seconds = require_seconds(spec.get("seconds", 0), where + ".seconds")
        self.status = require_int(spec.get("status", 0), where + ".status", 0, 599)
        if kind in ("status", "status_all") and self.status < 100:
            raise ScenarioError(f"{where}.status: {self.status} is out of range 100..599")
        self.retry_after = None
        if "retry_after" in spec:
            self.retry_after = require_int(spec["retry_after"], where + ".retry_after", 0)
        # None means unlimited: status_all never runs out.
        self.remaining = None if kind == "status_all" else require_int(spec.get("count", 1), where + ".count", 1)

        methods = spec.get("method")
        if isinstance(methods, str):
            methods = [methods]
        if methods is not None:
            require_type(methods, (list,), where + ".method")
            for method in methods:
                require_type(method, (str,), where + ".method")
            methods = {method.upper() for method in methods}
        self.methods = methods

        self.path_regex = None
        if "path" in spec:
            pattern = require_type(spec["path"], (str,), where + ".path")
            try:
                self.path_regex = re.compile(pattern)
            except re.error as e:
                raise ScenarioError(f"{where}.path: invalid regular expression '{pattern}': {e}") from None

    def matches(self, method, path):
        if self.methods is not None and method not in self.methods:
            return False
        return self.path_regex is None or self.path_regex.fullmatch(path) is not None


class Scenario:
    """A validated scenario: token rules, metadata tree and faults."""

    def __init__(self, spec, base_dir):
        require_type(spec, (dict,), "scenario")
        check_keys(spec, SCENARIO_KEYS, frozenset(), "scenario")
        require_type(spec.get("description", ""), (str,), "description")

        self.tokens = spec.get("tokens", "optional")
        if self.tokens not in TOKEN_MODES:
            raise ScenarioError(f"tokens: expected one of {', '.join(TOKEN_MODES)}, got {json.dumps(self.tokens)}")
        self.token_put_status = None
        if "token_put_status" in spec:
            self.token_put_status = require_int(spec["token_put_status"], "token_put_status", 100, 599)
        self.token_max_uses = None
        if "token_max_uses" in spec:
            self.token_max_uses = require_int(spec["token_max_uses"], "token_max_uses", 1)
        self.token_value = None
        if "token_value" in spec:
            self.token_value = require_type(spec["token_value"], (str,), "token_value")
            if not self.token_value or any(c in self.token_value for c in "\r\n"):
                raise ScenarioError("token_value: must be a non-empty single line")

        self.faults = [Fault(i, f) for i, f in enumerate(require_type(spec.get("faults", []), (list,), "faults"))]
        self.refuse_seconds = max((f.seconds for f in self.faults if f.type == "refuse"), default=0.0)
        self.faults = [f for f in self.faults if f.type != "refuse"]

        self.leaves = default_leaves()
        self.listings = {}
        self.key_names = {}
        self._add_public_keys(spec.get("public_keys", DEFAULT_PUBLIC_KEYS))
        self._add_tags(spec.get("tags", {}))
        self._add_user_data_file(spec, base_dir)
        paths = require_type(spec.get("paths", {}), (dict,), "paths")
        for path, value in paths.items():
            self._apply_path(path, value)
        if IDENTITY_DOCUMENT_PATH not in paths:
            self.leaves[IDENTITY_DOCUMENT_PATH] = identity_document(self.leaves)

    def _add_public_keys(self, keys):
        require_type(keys, (dict,), "public_keys")
        for index, (name, key) in enumerate(keys.items()):
            check_path_segment(name, "public_keys")
            if "=" in name:
                raise ScenarioError(f"public_keys: invalid name '{name}'")
            require_type(key, (str,), f"public_keys['{name}']")
            self.key_names[str(index)] = name
            self.leaves[f"{PUBLIC_KEYS_DIR}{index}/openssh-key"] = text_response(key)

    def _add_tags(self, tags):
        require_type(tags, (dict,), "tags")
        for name, value in tags.items():
            check_path_segment(name, "tags")
            require_type(value, (str,), f"tags['{name}']")
            self.leaves[TAGS_DIR + name] = text_response(value)

    def _add_user_data_file(self, spec, base_dir):
        if "user_data_file" not in spec:
            return
        if USER_DATA_PATH in spec.get("paths", {}):
            raise ScenarioError(f"user_data_file: paths['{USER_DATA_PATH}'] is set as well")
        name = require_type(spec["user_data_file"], (str,), "user_data_file")
        path = os.path.join(base_dir, name)
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError as e:
            raise ScenarioError(f"user_data_file: failed to read '{path}': {e.strerror}") from None
        self.leaves[USER_DATA_PATH] = Response(200, body, {"Content-Type": "application/octet-stream"})

    def _apply_path(self, path, value):
        if not path.startswith("/latest/") or path == TOKEN_PATH:
            raise ScenarioError(f"paths: '{path}' must start with /latest/ and must not be the token route")
        if value is None:
            subtree = path if path.endswith("/") else path + "/"
            for table in (self.leaves, self.listings):
                for existing in [p for p in table if p == path or p.startswith(subtree)]:
                    del table[existing]
            return
        if path.endswith("/"):
            self.listings[path] = parse_path_value(path, value)
        else:
            self.leaves[path] = parse_path_value(path, value)


def load_scenario(path):
    try:
        with open(path, "rb") as f:
            spec = json.load(f)
    except OSError as e:
        raise ScenarioError(e.strerror) from None
    except ValueError as e:
        raise ScenarioError(f"invalid JSON: {e}") from None
    return Scenario(spec, os.path.dirname(os.path.abspath(path)))


class TokenStore:
    """IMDSv2 session tokens with their expiry time and use count."""

    def __init__(self, max_uses, fixed_value):
        self._lock = threading.Lock()
        self._tokens = {}
        self._max_uses = max_uses
        self._fixed_value = fixed_value

    def issue(self, ttl):
        # 40 random bytes give a 56-character token, as long as the tokens EC2 returns.
        token = self._fixed_value or base64.urlsafe_b64encode(secrets.token_bytes(40)).decode("ascii")
        with self._lock:
            self._tokens[token] = {"expires": time.monotonic() + ttl, "uses": 0}
        return token

    def use(self, token):
        """Count one use of a token and return "valid", "unknown", "expired"
        or "exhausted", with the remaining TTL in whole seconds."""
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return "unknown", 0
            remaining = record["expires"] - time.monotonic()
            if remaining <= 0:
                del self._tokens[token]
                return "expired", 0
            if self._max_uses is not None and record["uses"] >= self._max_uses:
                return "exhausted", 0
            record["uses"] += 1
            return "valid", max(1, int(remaining))


class MetadataService:
    """The IMDS behaviour: faults, token route, token checks and data lookup.

    Nothing in this class touches sockets, so the rules read in one place.
    """

    def __init__(self, scenario):
        self.scenario = scenario
        self.tokens = TokenStore(scenario.token_max_uses, scenario.token_value)
        self.start_time = time.time()
        self._faults_lock = threading.Lock()

    def take_fault(self, method, path):
        """Return the first fault that applies to this request and use it up."""
        with self._faults_lock:
            for fault in self.scenario.faults:
                if fault.remaining == 0 or not fault.matches(method, path):
                    continue
                if fault.remaining is not None:
                    fault.remaining -= 1
                return fault
        return None

    def respond(self, method, path, headers):
        """Build the response to one request. Returns it with the token state for the log."""
        if path == TOKEN_PATH:
            return self._respond_token(method, headers)
        if method not in ("GET", "HEAD"):
            return error_response(405, {"Allow": "GET, HEAD"}), None

        token_state, ttl_left = self._check_token(headers)
        if token_state in ("unknown", "expired", "exhausted"):
            return error_response(401), token_state
        if token_state == "missing" and self.scenario.tokens == "required":
            return error_response(401), token_state

        response = self.lookup(path).copy()
        if token_state == "valid":
            response.headers[TOKEN_TTL_HEADER] = str(ttl_left)
        return response, token_state

    def _respond_token(self, method, headers):
        if method != "PUT":
            return Response(405, b"", {"Allow": "OPTIONS, PUT", "Content-Type": "text/plain"}), None
        if self.scenario.token_put_status is not None:
            return error_response(self.scenario.token_put_status), None
        if self.scenario.tokens == "unsupported":
            return error_response(403), None
        # EC2 rejects a token request that went through a proxy.
        if headers.get("X-Forwarded-For") is not None:
            return error_response(403), None

        ttl_values = headers.get_all(TOKEN_TTL_HEADER) or []
        if len(ttl_values) != 1 or not re.fullmatch(r"[0-9]{1,9}", ttl_values[0]):
            return error_response(400), None
        ttl = int(ttl_values[0])
        if ttl < TOKEN_TTL_MIN_SECONDS or ttl > TOKEN_TTL_MAX_SECONDS:
            return error_response(400), None

        token = self.tokens.issue(ttl)
        response = text_response(token)
        response.headers[TOKEN_TTL_HEADER] = str(ttl)
        return response, "issued"

    def _check_token(self, headers):
        if self.scenario.tokens == "unsupported":
            return "ignored", 0
        token = headers.get(TOKEN_HEADER)
        if token is None:
            return "missing", 0
        return self.tokens.use(token)

    def lookup(self, path):
        """Find the response for a data path: a leaf, an explicit or derived listing, or 404."""
        if path == "/":
            return text_response("\n".join(API_VERSIONS))
        parts = path.split("/", 2)
        if parts[0] != "" or parts[1] not in API_VERSIONS:
            return error_response(404)
        path = "/latest/" + (parts[2] if len(parts) > 2 else "")

        if path in self.scenario.listings:
            return self.scenario.listings[path]
        if path in self.scenario.leaves:
            return self.scenario.leaves[path]
        directory = path if path.endswith("/") else path + "/"
        if directory in self.scenario.listings:
            return self.scenario.listings[directory]
        entries = self._list_directory(directory)
        if not entries:
            return error_response(404)
        return text_response("\n".join(entries))

    def _list_directory(self, directory):
        children = set()
        for leaf in self.scenario.leaves:
            if not leaf.startswith(directory):
                continue
            rest = leaf[len(directory):]
            name, slash, _ = rest.partition("/")
            children.add(name + slash)

        entries = []
        for child in sorted(children):
            name = child.rstrip("/")
            if directory == "/latest/":
                # EC2 lists the top-level categories without a trailing slash.
                entries.append(name)
            elif directory == PUBLIC_KEYS_DIR and name in self.scenario.key_names:
                entries.append(f"{name}={self.scenario.key_names[name]}")
            else:
                entries.append(child)
        return entries


class RequestLog:
    """The JSON-lines request log; each line is flushed as soon as it is written."""

    def __init__(self, path):
        self._lock = threading.Lock()
        self._file = open(path, "a", encoding="utf-8") if path else None

    def write(self, entry):
        if self._file is None:
            return
        line = json.dumps(entry, sort_keys=True)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()


class MetadataRequestHandler(http.server.BaseHTTPRequestHandler):
    """Serves the requests of one TCP connection, keep-alive included."""

    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT_SECONDS
    # Headers and body go out in two writes, and Nagle's algorithm would hold
    # the body back until the client's delayed ACK on a keep-alive connection.
    disable_nagle_algorithm = True

    def __init__(self, request, client_address, context, connection_id):
        self.context = context
        self.connection_id = connection_id
        self.log_entry = None
        super().__init__(request, client_address, context)

    def version_string(self):
        return "EC2ws"

    def log_message(self, format, *args):
        """Suppress the per-request stderr line, because the JSON log records every request."""

    def do_GET(self):
        self.serve()

    do_HEAD = do_PUT = do_POST = do_DELETE = do_PATCH = do_OPTIONS = do_GET

    def serve(self):
        """Serve one parsed request and write its log line."""
        split = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(split.path)
        self.log_entry = self.new_log_entry()
        try:
            self.serve_request(path)
        finally:
            self.context.log.write(self.log_entry)
            self.log_entry = None

    def serve_request(self, path):
        if not self.discard_request_body():
            return
        service = self.context.service
        fault = service.take_fault(self.command, path)
        if fault is not None:
            self.log_entry["fault"] = fault.type
            self.log_entry["fault_index"] = fault.index
            if fault.type == "close":
                self.close_connection = True
                return
            if fault.type in ("status", "status_all"):
                headers = {}
                if fault.retry_after is not None:
                    headers["Retry-After"] = str(fault.retry_after)
                self.send(error_response(fault.status, headers))
                return
            if fault.type == "delay":
                self.context.stopping.wait(fault.seconds)

        response, token_state = service.respond(self.command, path, self.headers)
        self.log_entry["token"] = token_state
        if response.status == 200 and path != TOKEN_PATH:
            response.headers.setdefault("Accept-Ranges", "none")
            response.headers.setdefault("Last-Modified", self.date_time_string(service.start_time))
        self.send(response, truncate=fault is not None and fault.type == "truncate")

    def discard_request_body(self):
        """Read and drop a request body so the next request on the connection parses."""
        if self.headers.get("Transfer-Encoding") is not None:
            self.close_connection = True
            self.send(error_response(501))
            return False
        length = self.headers.get("Content-Length", "0")
        if not re.fullmatch(r"[0-9]{1,12}", length):
            self.close_connection = True
            self.send(error_response(400))
            return False
        if int(length) > MAX_REQUEST_BODY_BYTES:
            self.close_connection = True
            self.send(error_response(413))
            return False
        self.rfile.read(int(length))
        return True

    def send(self, response, truncate=False):
        """Send a response with its Content-Length. With truncate, send only
        the first half of the body and close the connection."""
        if self.log_entry is not None:
            self.log_entry["status"] = response.status
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command == "HEAD":
            return
        if truncate:
            self.wfile.write(response.body[:len(response.body) // 2])
            self.close_connection = True
            return
        self.wfile.write(response.body)

    def send_error(self, code, message=None, explain=None):
        """Send an error response to a request that the HTTP parser rejected, and log it."""
        self.close_connection = True
        entry = self.new_log_entry()
        self.log_entry = entry
        try:
            self.send(error_response(code))
        finally:
            self.context.log.write(entry)
            self.log_entry = None

    def new_log_entry(self):
        headers = {}
        if getattr(self, "headers", None) is not None:
            for name, value in self.headers.items():
                if name in headers:
                    value = headers[name] + ", " + value
                headers[name] = value
        server_address = self.connection.getsockname()
        return {
            "time": time.time(),
            "method": self.command,
            "path": getattr(self, "path", None),
            "version": self.request_version,
            "headers": headers,
            "client_address": self.client_address[0],
            "client_port": self.client_address[1],
            "server_address": server_address[0],
            "server_port": server_address[1],
            "connection_id": self.connection_id,
            "status": None,
            "fault": None,
            "fault_index": None,
            "token": None,
        }


class ServerContext:
    """What every connection handler shares: the service, the log and the stop flag."""

    def __init__(self, service, log):
        self.service = service
        self.log = log
        self.stopping = threading.Event()


def parse_listen(value):
    """Parse ADDR:PORT or [ADDR6]:PORT into (family, address, port)."""
    match = re.fullmatch(r"\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})", value)
    family = socket.AF_INET6
    if match is None:
        match = re.fullmatch(r"([0-9.]+):([0-9]{1,5})", value)
        family = socket.AF_INET
    if match is None or int(match.group(2)) > 65535:
        raise argparse.ArgumentTypeError(f"invalid listen address '{value}', expected ADDR:PORT or [ADDR6]:PORT")
    try:
        socket.inet_pton(family, match.group(1))
    except OSError:
        raise argparse.ArgumentTypeError(f"invalid IP address in '{value}'") from None
    return family, match.group(1), int(match.group(2))


def bind_listener(family, address, port):
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    sock.bind((address, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


def format_address(family, address, port):
    return f"[{address}]:{port}" if family == socket.AF_INET6 else f"{address}:{port}"


def write_ready_file(path, listen):
    """Write the ready file atomically, so a reader never sees half of it."""
    temporary = path + ".tmp"
    try:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump({"pid": os.getpid(), "listen": listen}, f)
            f.write("\n")
        os.rename(temporary, path)
    except OSError as e:
        raise StartupError(f"Failed to write ready file '{path}': {e.strerror}") from None


def serve_connection(context, sock, client_address, connection_id):
    try:
        MetadataRequestHandler(sock, client_address, context, connection_id)
    except OSError as e:
        # Mostly a client that went away mid-response, which the faults provoke.
        print(f"mock-imds: Connection {connection_id} from '{client_address[0]}' failed: {e}, closing.",
              file=sys.stderr)
    finally:
        try:
            sock.close()
        except OSError:
            pass


class Listeners:
    """The listening sockets and the accept loop, run on the main thread."""

    def __init__(self, context, addresses):
        self.context = context
        self.addresses = addresses
        self.sockets = []
        self.selector = selectors.DefaultSelector()
        self.connection_count = 0

    def bind(self):
        for family, address, port in self.addresses:
            try:
                sock = bind_listener(family, address, port)
            except OSError as e:
                raise StartupError(f"Failed to listen on '{format_address(family, address, port)}': {e.strerror}") from None
            self.sockets.append(sock)
            self.selector.register(sock, selectors.EVENT_READ)

    def bound_addresses(self):
        if not self.sockets:
            return [format_address(*a) for a in self.addresses]
        return [format_address(s.family, *s.getsockname()[:2]) for s in self.sockets]

    def accept(self, listener):
        try:
            sock, client_address = listener.accept()
        except (BlockingIOError, InterruptedError):
            return
        sock.setblocking(True)
        self.connection_count += 1
        thread = threading.Thread(
            target=serve_connection,
            args=(self.context, sock, client_address, self.connection_count),
            daemon=True)
        thread.start()

    def close(self):
        for sock in self.sockets:
            self.selector.unregister(sock)
            sock.close()
        self.sockets = []


def drain(sock):
    try:
        while sock.recv(64):
            pass
    except BlockingIOError:
        pass


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description="Mock EC2 instance metadata service for kiln's tests.")
    parser.add_argument("--scenario", metavar="FILE", help="JSON scenario (default: the built-in instance)")
    parser.add_argument("--log", metavar="FILE", help="append one JSON line per request to FILE")
    parser.add_argument("--ready-file", metavar="FILE",
                        help="create FILE once every listener is bound or scheduled to be bound")
    parser.add_argument("--listen", metavar="ADDR:PORT", action="append", type=parse_listen,
                        help="address to listen on, repeatable (default: 169.254.169.254:80 and [fd00:ec2::254]:80)")
    args = parser.parse_args(argv)
    if args.listen is None:
        args.listen = [parse_listen(value) for value in DEFAULT_LISTEN]
    return args


def install_signal_handlers(context, selector):
    """Make SIGTERM and SIGINT set the stop flag and wake the accept loop."""
    wake_reader, wake_writer = socket.socketpair()
    wake_reader.setblocking(False)
    wake_writer.setblocking(False)
    signal.set_wakeup_fd(wake_writer.fileno())
    signal.signal(signal.SIGTERM, lambda signum, frame: context.stopping.set())
    signal.signal(signal.SIGINT, lambda signum, frame: context.stopping.set())
    selector.register(wake_reader, selectors.EVENT_READ)
    # The writer must stay open for as long as the handlers are installed.
    return wake_reader, wake_writer


def accept_until_stopped(context, listeners, wake_reader, bind_at):
    """Run the accept loop, binding the listeners once bind_at has passed."""
    while not context.stopping.is_set():
        timeout = None if listeners.sockets else max(0.0, bind_at - time.monotonic())
        events = listeners.selector.select(timeout)
        if not listeners.sockets and time.monotonic() >= bind_at:
            listeners.bind()
        for key, _ in events:
            if key.fileobj is wake_reader:
                drain(wake_reader)
            elif key.fileobj in listeners.sockets:
                listeners.accept(key.fileobj)


def run(args):
    try:
        scenario = load_scenario(args.scenario) if args.scenario else Scenario({}, os.getcwd())
    except ScenarioError as e:
        print(f"mock-imds: Failed to load scenario '{args.scenario}': {e}", file=sys.stderr)
        return 2

    try:
        log = RequestLog(args.log)
    except OSError as e:
        print(f"mock-imds: Failed to open request log '{args.log}': {e.strerror}", file=sys.stderr)
        return 1

    context = ServerContext(MetadataService(scenario), log)
    listeners = Listeners(context, args.listen)
    wake_reader, wake_writer = install_signal_handlers(context, listeners.selector)
    # A "refuse" fault delays the bind, so connections are refused until then.
    bind_at = time.monotonic() + scenario.refuse_seconds
    try:
        if scenario.refuse_seconds == 0:
            listeners.bind()
        if args.ready_file:
            write_ready_file(args.ready_file, listeners.bound_addresses())
        accept_until_stopped(context, listeners, wake_reader, bind_at)
    except StartupError as e:
        print(f"mock-imds: {e}", file=sys.stderr)
        return 1
    finally:
        listeners.close()
        wake_reader.close()
        wake_writer.close()
    return 0


def main():
    sys.exit(run(parse_arguments(sys.argv[1:])))


if __name__ == "__main__":
    main()
