#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Benchmark of kiln against cloud-init on the same NoCloud seed.

tests/bench/run starts this inside private mount, UTS, network and PID namespaces and passes the
cached roots of tests/fixtures/debian-root (for kiln) and tests/fixtures/cloud-init-root (for
cloud-init). Every run gets a fresh overlay of its root, so each starts from a clean state, and
kiln's and cloud-init's runs alternate. The report is Markdown on stdout.

Method: wall time is read from the monotonic clock around each process, in microseconds. CPU
time (user plus system) and peak RSS come from wait4(2), as GNU time reports them: CPU time counts
the process and every command it waited for, and the RSS is that of the largest single process
of the tree, not a sum. tests/bench/peak-rss.c, preloaded into kiln and into cloud-init's Python
process, also records that one process's own peak RSS (VmHWM), its private memory at exit
(RssAnon) and its CPU time, without the commands it runs (useradd, ssh-keygen, the user's
scripts): the agent's own cost. VmHWM counts the pages of the shared libraries that the process
touched; RssAnon leaves them out. cloud-init's figures add
up its four stages as systemd runs them (wall and CPU are sums, RSS is the maximum over the
stages).
"""
import argparse
import base64
import datetime
import gzip
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

TOP = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
USER_DATA = os.path.join(TOP, "tests", "bench", "user-data.yaml")
MOCK_IMDS = os.path.join(TOP, "tests", "imds", "mock-imds.py")
CLOUD_INIT_STAGES = (
    ("init", "--local"),
    ("init",),
    ("modules", "--mode", "config"),
    ("modules", "--mode", "final"),
)
SCALING_ENTRIES = (1, 100, 1000, 10000)
# The 1 MiB document is one write_files entry of this many 'A' characters.
LARGE_CONTENT_BYTES = 1048000
# Inside a chroot, the preload library and its output file sit at these paths of the root.
CHROOT_PRELOAD = "/run/kiln-bench-peak-rss.so"
CHROOT_RSS_FILE = "/run/kiln-bench-rss"


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = tempfile.mkdtemp(prefix="kiln-bench-")
        self.mounts = []
        self.preload = self.build_preload()

    def build_preload(self):
        out = os.path.join(self.work, "peak-rss.so")
        subprocess.run(["cc", "-O2", "-shared", "-fPIC", "-o", out,
                        os.path.join(TOP, "tests", "bench", "peak-rss.c")], check=True)
        return out

    def overlay(self, lower):
        """Mount a fresh overlay on the cached root LOWER and return its path."""
        top = tempfile.mkdtemp(dir=self.work)
        for name in ("upper", "work", "root"):
            os.mkdir(os.path.join(top, name))
        root = os.path.join(top, "root")
        subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                        "lowerdir=%s,upperdir=%s/upper,workdir=%s/work" % (lower, top, top), root],
                       check=True)
        self.mounts.append(root)
        return root

    def release(self, root):
        """Unmount ROOT and whatever is mounted below it, and delete its layers."""
        for mount in sorted((m for m in self.mounts if m == root or m.startswith(root + "/")),
                            reverse=True):
            subprocess.run(["umount", mount], check=True)
            self.mounts.remove(mount)
        shutil.rmtree(os.path.dirname(root))

    def cleanup(self):
        for mount in sorted(self.mounts, reverse=True):
            subprocess.run(["umount", "-l", mount], check=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def timed(self, argv, log, env=None, own_file=None):
        """Run ARGV; return its wall and CPU seconds, max RSS in KiB and exit status.

        With OWN_FILE (where the preloaded peak-rss.so writes), also the process's own peak RSS
        and CPU seconds."""
        with open(log, "ab") as out:
            start = time.perf_counter()
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        result = {"rc": proc.returncode, "wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
                  "rss_kib": usage.ru_maxrss}
        if own_file:
            with open(own_file) as f:
                peak, anon, user_us, system_us = (int(x) for x in f.read().split())
            os.unlink(own_file)
            result["own_rss_kib"] = peak
            result["own_anon_kib"] = anon
            result["own_cpu"] = (user_us + system_us) / 1e6
        return result

    def kiln_run(self, user_data, imds=False):
        root = self.overlay(self.args.debian_root)
        log = root + ".log"
        if imds:
            dmi = os.path.join(root, "sys", "class", "dmi", "id")
            os.makedirs(dmi, exist_ok=True)
            with open(os.path.join(dmi, "sys_vendor"), "w") as f:
                f.write("Amazon EC2\n")
            with open(os.path.join(dmi, "product_uuid"), "w") as f:
                f.write("ec2e1916-9099-7caf-fd21-012345abcdef\n")
        else:
            write_seed(os.path.join(root, "var", "lib", "kiln", "seed", "nocloud"), user_data)
        rss_file = os.path.join(self.work, "kiln-rss")
        env = dict(os.environ, LD_PRELOAD=self.preload, KILN_BENCH_RSS_FILE=rss_file)
        result = self.timed([self.args.kiln, "run", "--root", root], log, env, rss_file)
        with open(os.path.join(root, "run", "kiln", "status.json")) as f:
            status = json.load(f)
        result["status"] = status["status"]
        result["phases"] = {name: p["duration_ms"] for name, p in status.get("phases", {}).items()}
        result["modules"] = {m["name"]: m.get("duration_ms", 0.0) for m in status.get("modules", [])}
        if result["status"] != "done":
            shutil.copy(log, os.path.join(self.args.logs, "kiln-failed.log"))
        self.release(root)
        return result

    def cloud_init_run(self, user_data):
        root = self.overlay(self.args.cloud_init_root)
        log = root + ".log"
        write_seed(os.path.join(root, "var", "lib", "cloud", "seed", "nocloud"), user_data)
        proc = os.path.join(root, "proc")
        subprocess.run(["mount", "-t", "proc", "proc", proc], check=True)
        self.mounts.append(proc)
        shutil.copy(self.preload, root + CHROOT_PRELOAD)
        total = {"rc": 0, "wall": 0.0, "cpu": 0.0, "rss_kib": 0, "own_rss_kib": 0,
                 "own_anon_kib": 0, "own_cpu": 0.0, "stages": []}
        for stage in CLOUD_INIT_STAGES:
            # chroot itself must not load the library: it is the root's path, not this machine's.
            r = self.timed(["chroot", root, "/usr/bin/env", "LD_PRELOAD=" + CHROOT_PRELOAD,
                            "KILN_BENCH_RSS_FILE=" + CHROOT_RSS_FILE, "/usr/bin/cloud-init"]
                           + list(stage), log, None, root + CHROOT_RSS_FILE)
            total["stages"].append(r)
            total["wall"] += r["wall"]
            total["cpu"] += r["cpu"]
            total["own_cpu"] += r["own_cpu"]
            total["rss_kib"] = max(total["rss_kib"], r["rss_kib"])
            total["own_rss_kib"] = max(total["own_rss_kib"], r["own_rss_kib"])
            total["own_anon_kib"] = max(total["own_anon_kib"], r["own_anon_kib"])
            total["rc"] = total["rc"] or r["rc"]
        with open(os.path.join(root, "run", "cloud-init", "result.json")) as f:
            total["errors"] = json.load(f)["v1"]["errors"]
        shutil.copy(os.path.join(root, "var", "log", "cloud-init.log"),
                    os.path.join(self.args.logs, "cloud-init-last.log"))
        self.release(root)
        return total

    def start_mock(self, user_data):
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"],
                     ["ip", "-6", "addr", "add", "fd00:ec2::254/128", "dev", "lo", "nodad"]):
            subprocess.run(argv, check=True)
        scenario = os.path.join(self.work, "scenario.json")
        with open(scenario, "w") as f:
            json.dump({"description": "The benchmark's user data.", "user_data_file": user_data}, f)
        ready = os.path.join(self.work, "mock-ready")
        mock = subprocess.Popen([sys.executable, MOCK_IMDS, "--scenario", scenario,
                                 "--log", os.path.join(self.work, "mock.log"), "--ready-file", ready],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if os.path.exists(ready):
                return mock
            time.sleep(0.05)
        mock.kill()
        raise RuntimeError("the mock IMDS did not start within 5 s")


def write_seed(seed, user_data):
    os.makedirs(seed, exist_ok=True)
    with open(os.path.join(seed, "meta-data"), "w") as f:
        f.write("instance-id: iid-bench-0001\n")
    shutil.copy(user_data, os.path.join(seed, "user-data"))


def scaling_document(path, entries=None, large=False):
    with open(path, "w") as f:
        f.write("#cloud-config\nwrite_files:\n")
        if large:
            f.write("  - path: /opt/scale/large\n    content: %s\n" % ("A" * LARGE_CONTENT_BYTES))
            return
        for i in range(entries):
            f.write("  - path: /opt/scale/f%05d\n    content: \"entry %d\\n\"\n" % (i, i))


def summary(values, unit_format="%.3f"):
    values = sorted(values)
    if len(values) >= 4:
        q = statistics.quantiles(values, n=4)
        iqr = ", IQR " + unit_format % q[0] + "–" + unit_format % q[2]
    else:
        iqr = ""
    return (unit_format % statistics.median(values)) + " (min " + unit_format % values[0] + \
        ", max " + unit_format % values[-1] + iqr + ")"


def machine_description():
    cpu = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return "%s, %d CPUs, %.1f GiB RAM, Linux %s, load average %s at the start" % (
        cpu, os.cpu_count(), mem_kib / 1048576, platform.release(), load)


def read_dpkg_status(root):
    """Installed packages of ROOT's dpkg database, as a map from name to fields."""
    packages = {}
    with open(os.path.join(root, "var", "lib", "dpkg", "status")) as f:
        for stanza in f.read().split("\n\n"):
            fields = {}
            key = None
            for line in stanza.splitlines():
                if line.startswith((" ", "\t")) and key:
                    fields[key] += " " + line.strip()
                elif ":" in line:
                    key, value = line.split(":", 1)
                    fields[key] = value.strip()
            if "Package" in fields and fields.get("Status", "").endswith(" installed"):
                packages[fields["Package"]] = fields
    return packages


def dependency_closure(packages, roots):
    """Names of ROOTS and everything they Depend or Pre-Depend on, among PACKAGES. Of the
    alternatives in a dependency, the first installed one counts."""
    provides = {}
    for name, fields in packages.items():
        for item in fields.get("Provides", "").split(","):
            if item.strip():
                provides.setdefault(item.strip().split()[0], name)
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop().split(":")[0]
        name = name if name in packages else provides.get(name)
        if not name or name in seen:
            continue
        seen.add(name)
        for field in ("Depends", "Pre-Depends"):
            for group in packages[name].get(field, "").split(","):
                for alternative in group.split("|"):
                    dep = alternative.strip().split(" ")[0].split(":")[0]
                    if dep in packages or dep in provides:
                        todo.append(dep)
                        break
    return seen


def installed_closure(root, package):
    """Sum Installed-Size (KiB) over PACKAGE and its dependency closure in ROOT, leaving out what
    debootstrap's minbase installs (the packages of priority required, apt, and their closure)."""
    packages = read_dpkg_status(root)
    base = dependency_closure(packages, [n for n, f in packages.items()
                                         if f.get("Priority") == "required"] + ["apt"])
    counted = sorted(dependency_closure(packages, [package]) - base)
    size = sum(int(packages[n].get("Installed-Size", "0")) for n in counted)
    return size, counted


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kiln", required=True)
    parser.add_argument("--debian-root", required=True)
    parser.add_argument("--cloud-init-root", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--scaling-runs", type=int, default=3)
    parser.add_argument("--logs", required=True, help="folder for the logs of failed runs")
    parser.add_argument("--deb", help="kiln's .deb, for its size")
    parser.add_argument("--command", default="sudo tests/bench/run")
    args = parser.parse_args()
    os.makedirs(args.logs, exist_ok=True)

    bench = Bench(args)
    try:
        report(bench, args)
    finally:
        bench.cleanup()


def report(bench, args):
    out = []
    out.append("Date: %s  " % datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
    out.append("Machine: %s  " % machine_description())
    out.append("Command: `%s` (%d runs of each tool, interleaved)  " % (args.command, args.runs))
    version = subprocess.run([args.kiln, "version"], capture_output=True, text=True).stdout.strip()
    ci_version = subprocess.run(["chroot", args.cloud_init_root, "dpkg-query", "-W", "-f",
                                 "${Version}", "cloud-init"], capture_output=True, text=True).stdout
    out.append("kiln: %s; cloud-init: Debian package %s" % (version, ci_version))
    out.append("")

    kiln, cloud_init = [], []
    for i in range(args.runs):
        kiln.append(bench.kiln_run(USER_DATA))
        cloud_init.append(bench.cloud_init_run(USER_DATA))
        print("run %d: kiln %.3f s, cloud-init %.3f s" % (i + 1, kiln[-1]["wall"], cloud_init[-1]["wall"]),
              file=sys.stderr)

    # Both tools spend most of a first boot generating SSH host keys (ssh-keygen, RSA 3072 bits
    # included), which hides their own cost. The same input without host key generation shows it.
    no_keys = os.path.join(bench.work, "user-data-no-host-keys.yaml")
    with open(USER_DATA) as src, open(no_keys, "w") as dst:
        dst.write(src.read() + "\nssh_genkeytypes: []\n")
    kiln_no_keys, cloud_init_no_keys = [], []
    for i in range(args.runs):
        kiln_no_keys.append(bench.kiln_run(no_keys))
        cloud_init_no_keys.append(bench.cloud_init_run(no_keys))

    mock = bench.start_mock(USER_DATA)
    try:
        imds = [bench.kiln_run(USER_DATA, imds=True) for _ in range(args.runs)]
    finally:
        mock.terminate()
        mock.wait()

    out.append("## Benchmark input (tests/bench/user-data.yaml)")
    out.append("")
    out.append("Median (min, max, IQR) over %d runs from a clean root." % args.runs)
    out.append("")
    out.append("| | wall s | CPU s | own CPU s | peak RSS KiB (largest process) | own peak RSS KiB | own private KiB at exit | final status |")
    out.append("|---|---|---|---|---|---|---|---|")
    rows = (("kiln, NoCloud seed", kiln), ("kiln, mock IMDS (EC2)", imds),
            ("cloud-init, NoCloud seed, 4 stages", cloud_init),
            ("kiln, NoCloud seed, ssh_genkeytypes: []", kiln_no_keys),
            ("cloud-init, NoCloud seed, ssh_genkeytypes: []", cloud_init_no_keys))
    for label, runs in rows:
        if "status" in runs[0]:
            final = ", ".join(sorted(set(r["status"] for r in runs)))
        else:
            final = "%d of %d with errors" % (sum(1 for r in runs if r["errors"] or r["rc"]), len(runs))
        out.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
            label, summary([r["wall"] for r in runs], "%.4f"), summary([r["cpu"] for r in runs], "%.4f"),
            summary([r["own_cpu"] for r in runs], "%.4f"), summary([r["rss_kib"] for r in runs], "%d"),
            summary([r["own_rss_kib"] for r in runs], "%d"),
            summary([r["own_anon_kib"] for r in runs], "%d"), final))
    out.append("")
    for label, k_runs, c_runs in (("with host key generation", kiln, cloud_init),
                                  ("without host key generation", kiln_no_keys, cloud_init_no_keys)):
        ratios = [c["wall"] / k["wall"] for k, c in zip(k_runs, c_runs)]
        cpu_ratios = [c["cpu"] / k["cpu"] for k, c in zip(k_runs, c_runs) if k["cpu"] > 0]
        own_ratios = [c["own_cpu"] / k["own_cpu"] for k, c in zip(k_runs, c_runs) if k["own_cpu"] > 0]
        out.append("Ratio cloud-init / kiln per run, %s: wall time %s; CPU time %s; own CPU "
                   "time %s.  " % (label, summary(ratios, "%.1f"), summary(cpu_ratios, "%.1f"),
                                   summary(own_ratios, "%.1f")))
    out.append("")
    out.append("cloud-init by stage, median wall s: " + ", ".join(
        "`%s` %.3f" % (" ".join(stage), statistics.median(r["stages"][i]["wall"] for r in cloud_init))
        for i, stage in enumerate(CLOUD_INIT_STAGES)) + ".")
    out.append("")

    out.append("## kiln's time by phase (status.json, NoCloud runs)")
    out.append("")
    out.append("| phase or module | median ms | max ms |")
    out.append("|---|---|---|")
    for key, label in (("phases", "phase %s"), ("modules", "module %s")):
        for name in kiln[0][key]:
            values = [r[key].get(name, 0.0) for r in kiln]
            out.append("| %s | %.3f | %.3f |" % (label % name, statistics.median(values), max(values)))
    out.append("")

    out.append("## Scaling (kiln, NoCloud seed, write_files only)")
    out.append("")
    out.append("Median of %d runs each." % args.scaling_runs)
    out.append("")
    out.append("Wall time includes the SSH host key generation that kiln's ssh module does on every first")
    out.append("boot, so the write_files module's own time (from status.json) shows the growth better.")
    out.append("")
    out.append("| document | bytes | kiln wall s | write_files ms | write_files ms per entry | kiln own peak RSS KiB | cloud-init wall s |")
    out.append("|---|---|---|---|---|---|---|")
    cases = [("%d %s" % (n, "entry" if n == 1 else "entries"), n, False) for n in SCALING_ENTRIES] + [("1 MiB, one entry", 1, True)]
    for label, entries, large in cases:
        doc = os.path.join(bench.work, "scale.yaml")
        scaling_document(doc, entries, large)
        runs = [bench.kiln_run(doc) for _ in range(args.scaling_runs)]
        wall = statistics.median(r["wall"] for r in runs)
        ci = "not run"
        if entries <= 100 and not large:
            ci = "%.3f" % statistics.median(bench.cloud_init_run(doc)["wall"] for _ in range(3))
        module_ms = statistics.median(r["modules"].get("write_files", 0.0) for r in runs)
        out.append("| %s | %d | %.3f | %.1f | %.3f | %d | %s |" % (
            label, os.path.getsize(doc), wall, module_ms, module_ms / entries,
            statistics.median(r["own_rss_kib"] for r in runs), ci))
    out.append("")

    out.append("## Size")
    out.append("")
    stripped = os.path.join(bench.work, "kiln.stripped")
    subprocess.run(["strip", "-o", stripped, args.kiln], check=True)
    out.append("- The kiln binary that ran: %d bytes unstripped, %d bytes (%.1f KiB) stripped." % (
        os.path.getsize(args.kiln), os.path.getsize(stripped), os.path.getsize(stripped) / 1024))
    if args.deb:
        installed = subprocess.run(["dpkg-deb", "-f", args.deb, "Installed-Size"],
                                   capture_output=True, text=True, check=True).stdout.strip()
        unpacked = os.path.join(bench.work, "deb")
        subprocess.run(["dpkg-deb", "-x", args.deb, unpacked], check=True)
        binary = os.path.getsize(os.path.join(unpacked, "usr", "bin", "kiln"))
        out.append("- kiln .deb (%s): %d bytes, Installed-Size %s KiB; its /usr/bin/kiln "
                   "(stripped, built for size) is %d bytes (%.1f KiB)." % (
                       os.path.basename(args.deb), os.path.getsize(args.deb), installed, binary,
                       binary / 1024))
    else:
        out.append("- kiln .deb: none built; the stripped binary is most of what it installs.")
    size, counted = installed_closure(args.cloud_init_root, "cloud-init")
    out.append("- cloud-init installed with its dependencies beyond minbase: %d KiB (%.1f MiB) over %d "
               "packages (dpkg Installed-Size, Depends and Pre-Depends closure, priority required "
               "left out): %s." % (size, size / 1024, len(counted), ", ".join(counted)))
    print("\n".join(out))


if __name__ == "__main__":
    main()
