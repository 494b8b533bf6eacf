#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Compare what kiln and cloud-init left in their roots for one cloud-config document.

Usage: compare.py NAME DOCUMENT KILN_ROOT CLOUD_INIT_ROOT KNOWN_FILE

The facts compared follow from the document: every write_files entry (content, mode, owner and
group, and those of its parent folder), /etc/hostname, the non-comment lines of /etc/hosts, and
for each user in `users`: the passwd fields, the primary and supplementary groups, the shadow
fields that are not dates, the sudo rules naming the user and the authorized_keys file. Groups of
the top-level `groups` key are compared by members, and every file under /var/tmp (where the
documents' commands write) by content.

Each fact prints "ok NAME: FACT" or "not ok NAME: FACT (kiln: ..., cloud-init: ...)". A fact listed
in KNOWN_FILE (lines "NAME<TAB>FACT<TAB>REASON") that differs prints "ok NAME: FACT (known
difference: REASON)"; one listed there that no longer differs prints "not ok", so the list
stays true.
"""
import hashlib
import os
import stat
import sys

import yaml

# Content up to this size is compared and shown as bytes; larger content as its size and SHA-256.
MAX_SHOWN_BYTES = 60


def read_table(root, name):
    """Rows of ROOT/etc/NAME (passwd, group, shadow) keyed by their first field."""
    rows = {}
    try:
        with open(os.path.join(root, "etc", name)) as f:
            for line in f:
                fields = line.rstrip("\n").split(":")
                rows[fields[0]] = fields
    except FileNotFoundError:
        pass
    return rows


def owner_names(root, st):
    users = {int(r[2]): r[0] for r in read_table(root, "passwd").values() if len(r) > 2}
    groups = {int(r[2]): r[0] for r in read_table(root, "group").values() if len(r) > 2}
    return "%s:%s" % (users.get(st.st_uid, st.st_uid), groups.get(st.st_gid, st.st_gid))


def file_facts(root, path):
    """Content, mode and owner of PATH inside ROOT, each as a short string."""
    full = os.path.join(root, path.lstrip("/"))
    try:
        st = os.lstat(full)
    except FileNotFoundError:
        return {"exists": "no"}
    facts = {"exists": "yes", "mode": "%o" % stat.S_IMODE(st.st_mode), "owner": owner_names(root, st)}
    if stat.S_ISREG(st.st_mode):
        with open(full, "rb") as f:
            data = f.read()
        facts["content"] = repr(data) if len(data) <= MAX_SHOWN_BYTES else "%d bytes, sha256 %s" % (
            len(data), hashlib.sha256(data).hexdigest()[:16])
    return facts


def hosts_lines(root):
    try:
        with open(os.path.join(root, "etc", "hosts")) as f:
            return " | ".join(" ".join(line.split()) for line in f
                              if line.strip() and not line.lstrip().startswith("#"))
    except FileNotFoundError:
        return "missing"


def sudo_rules(root, user):
    """The sudoers lines in /etc/sudoers.d that start with USER, whitespace folded."""
    rules = []
    folder = os.path.join(root, "etc", "sudoers.d")
    for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
        with open(os.path.join(folder, name)) as f:
            rules += [" ".join(line.split()) for line in f if line.split()[:1] == [user]]
    return " | ".join(rules) or "none"


def user_facts(root, user):
    facts = {}
    passwd = read_table(root, "passwd").get(user)
    if not passwd:
        return {"passwd": "missing"}
    facts["passwd gecos, home, shell"] = ":".join([passwd[4], passwd[5], passwd[6]])
    if int(passwd[2]) >= 1000:
        facts["passwd uid"] = passwd[2]
    groups = read_table(root, "group")
    primary = [g[0] for g in groups.values() if g[2] == passwd[3]]
    facts["primary group"] = primary[0] if primary else passwd[3]
    facts["supplementary groups"] = ",".join(sorted(
        g[0] for g in groups.values() if user in g[3].split(",")))
    shadow = read_table(root, "shadow").get(user)
    if shadow:
        # Field 3 is the date of the last change, which depends on the day of the run.
        facts["shadow password"] = shadow[1]
        facts["shadow ageing"] = ":".join(shadow[3:])
    facts["sudo rules"] = sudo_rules(root, user)
    home = passwd[5].lstrip("/")
    for path in (home, home + "/.ssh", home + "/.ssh/authorized_keys"):
        for key, value in file_facts(root, path).items():
            facts["%s %s" % ("/" + path, key)] = value
    return facts


def document_facts(root, doc):
    facts = {}
    for entry in doc.get("write_files") or []:
        if not isinstance(entry, dict) or "path" not in entry:
            continue
        path = entry["path"]
        for target in (path, os.path.dirname(path)):
            for key, value in file_facts(root, target).items():
                facts["%s %s" % (target, key)] = value
    if any(k in doc for k in ("hostname", "fqdn")):
        facts["/etc/hostname content"] = file_facts(root, "/etc/hostname").get("content")
    if doc.get("manage_etc_hosts"):
        facts["/etc/hosts lines"] = hosts_lines(root)
    for entry in doc.get("users") or []:
        if isinstance(entry, dict) and "name" in entry:
            for key, value in user_facts(root, entry["name"]).items():
                facts["user %s: %s" % (entry["name"], key)] = value
    for entry in doc.get("groups") or []:
        name = next(iter(entry)) if isinstance(entry, dict) else entry
        row = read_table(root, "group").get(name)
        facts["group %s members" % name] = row[3] if row else "missing"
    tmp = os.path.join(root, "var", "tmp")
    for name in sorted(os.listdir(tmp)):
        for key, value in file_facts(root, "/var/tmp/" + name).items():
            facts["/var/tmp/%s %s" % (name, key)] = value
    return facts


def main():
    name, document, kiln_root, cloud_init_root, known_file = sys.argv[1:6]
    with open(document, "rb") as f:
        doc = yaml.safe_load(f) or {}
    known = {}
    with open(known_file) as f:
        for line in f:
            if line.strip() and not line.startswith("#"):
                case, fact, reason = line.rstrip("\n").split("\t")
                if case == name:
                    known[fact] = reason
    kiln, cloud_init = document_facts(kiln_root, doc), document_facts(cloud_init_root, doc)
    for fact in sorted(set(kiln) | set(cloud_init)):
        a, b = kiln.get(fact, "absent"), cloud_init.get(fact, "absent")
        if a == b and fact not in known:
            print("ok %s: %s" % (name, fact))
        elif a == b:
            print("not ok %s: %s is listed as a known difference but both give %s" % (name, fact, a))
        elif fact in known:
            print("ok %s: %s (known difference: %s)" % (name, fact, known[fact]))
        else:
            print("not ok %s: %s (kiln: %s, cloud-init: %s)" % (name, fact, a, b))
    for fact in sorted(set(known) - set(kiln) - set(cloud_init)):
        print("not ok %s: %s is listed as a known difference but neither root has it" % (name, fact))


if __name__ == "__main__":
    main()
