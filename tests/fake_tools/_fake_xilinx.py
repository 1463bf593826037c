"""Stand-in for the Xilinx executables (vivado_hls, vitis_hls, vitis-run, vivado, v++) in tests.

It records its argv and cwd (JSON lines in $FAKE_XILINX_LOG), prints log lines like the real
tool, checks the files the real tool would read, and copies a real report set
($FAKE_XILINX_FIXTURE, a folder of ../shared/fixtures/hls-reports/) to where the real tool
writes. $FAKE_XILINX_SLEEP makes it sleep (time-limit tests); $FAKE_XILINX_FAIL=<tool> makes
that tool fail. It proves plumbing, never that a real tool accepts the scripts.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

VERSIONS = {
    "vivado_hls": "vivado_hls v2019.2 (64-bit)",
    "vitis_hls": "Vitis HLS - High-Level Synthesis from C, C++ and OpenCL v2022.2 (64-bit)",
    "vitis-run": "vitis-run v2024.1 (64-bit)",
    "vivado": "Vivado v2019.2 (64-bit)",
    "v++": "Vitis v2022.2 (64-bit)",
}
OPTS = ("reset", "csim", "synth", "cosim", "validation", "export", "vsynth", "fifo_opt")


def die(msg):
    print(f"ERROR: {msg}", flush=True)
    sys.exit(1)


def say(msg):
    print(msg, flush=True)


def fixture():
    f = os.environ.get("FAKE_XILINX_FIXTURE")
    if not f or not Path(f).is_dir():
        die(f"FAKE_XILINX_FIXTURE not set to a report set: {f!r}")
    return Path(f)


def project_name(cwd):
    tcl = cwd / "project.tcl"
    if not tcl.is_file():
        die(f"couldn't read file \"{tcl}\": no such file or directory")
    m = re.search(r'set project_name "(\w+)"', tcl.read_text())
    if not m:
        die("project.tcl sets no project_name")
    return m.group(1)


def truthy(v):
    return str(v).lower() in ("1", "true", "yes")


def hls_options(tool, args, cwd):
    """Options the way build_prj.tcl gets them: argv (Vivado) or build_opt.tcl (Vitis)."""
    if tool == "vitis-run":
        if args[:4] != ["--tcl", "build_prj.tcl", "--mode", "hls"]:
            die(f"unexpected vitis-run arguments {args}")
        script = "build_prj.tcl"
    else:
        if len(args) < 2 or args[0] != "-f":
            die(f"{tool}: expected -f <script>, got {args}")
        script = args[1]
    prj = cwd / script
    if not prj.is_file():
        die(f"couldn't read file \"{prj}\"")
    opt = {k: False for k in OPTS}
    if "build_opt.tcl" in prj.read_text():  # Vitis build_prj.tcl: options come from build_opt.tcl
        bo = cwd / "build_opt.tcl"
        if not bo.is_file():
            die("couldn't read file build_opt.tcl")
        for k, v in re.findall(r"^\s+(\w+)\s+(\d)\s*$", bo.read_text(), re.M):
            opt[k] = truthy(v)
    else:  # Vivado build_prj.tcl: regexp "$o=+(\w+)" over each argv element after the script
        for arg in args[2:]:
            for k in OPTS:
                m = re.search(rf"{k}=+(\w+)", arg)
                if m:
                    opt[k] = truthy(m.group(1))
    return prj, opt


def fake_hls(tool, args, cwd):
    prj, opt = hls_options(tool, args, cwd)
    name = project_name(cwd)
    top = re.search(r"^set_top (\S+)", prj.read_text(), re.M).group(1).replace("${project_name}", name)
    say(f"****** {VERSIONS[tool]}")
    say(f"INFO: [HLS 200-10] Opening project '{cwd / (name + '_prj')}'.")
    sol = cwd / f"{name}_prj" / "solution1"
    sol.mkdir(parents=True, exist_ok=True)
    maybe_sleep()
    if opt["csim"]:
        say("***** C SIMULATION *****")
        (cwd / "tb_data").mkdir(exist_ok=True)
        (cwd / "tb_data" / "csim_results.log").write_text("0 0 1\n")
        say("INFO: [SIM 211-1] CSim done with 0 errors.")
    if opt["synth"]:
        say("***** C/RTL SYNTHESIS *****")
        src = next(fixture().glob("*_prj/solution1/syn/report"))
        dst = sol / "syn" / "report"
        shutil.rmtree(dst, ignore_errors=True)
        shutil.copytree(src, dst)
        (sol / "syn" / "verilog").mkdir(parents=True, exist_ok=True)
        (sol / "syn" / "verilog" / f"{top}.v").write_text(f"module {top}(); endmodule\n")
        say(f"INFO: [HLS 200-111] Finished generating all RTL models. top={top}")
        say("***** C/RTL SYNTHESIS COMPLETED IN 0h0m1s *****")
    if opt["cosim"]:
        say("***** C/RTL SIMULATION *****")
        for rpt in fixture().glob("*_prj/solution1/sim/report/*cosim.rpt"):
            (sol / "sim" / "report").mkdir(parents=True, exist_ok=True)
            shutil.copy(rpt, sol / "sim" / "report" / rpt.name)
    if opt["export"]:
        say("***** EXPORT IP *****")
        if not (sol / "syn" / "verilog").is_dir():
            die("[IMPL 213-28] Failed to generate IP: no synthesized design")
        ip = sol / "impl" / "ip"
        ip.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(ip / f"xilinx_com_hls_{top}_1_0.zip", "w") as z:
            z.writestr("component.xml", f"<spirit:component><spirit:name>{top}</spirit:name></spirit:component>\n")
        (ip / "component.xml").write_text(f"<spirit:component><spirit:name>{top}</spirit:name></spirit:component>\n")
    if opt["vsynth"]:
        say("***** VIVADO SYNTHESIS *****")
        # build_prj.tcl: exec vivado -mode batch -source vivado_synth.tcl >@ stdout
        r = subprocess.run(["vivado", "-mode", "batch", "-source", "vivado_synth.tcl"], cwd=cwd)
        if r.returncode != 0:
            die("child process exited abnormally (vivado)")
    say("INFO: [Common 17-206] Exiting vivado_hls.")


def fake_vivado(args, cwd):
    if args[:3] != ["-mode", "batch", "-source"] or len(args) != 4:
        die(f"vivado: unexpected arguments {args}")
    script = cwd / args[3]
    if not script.is_file():
        die(f"couldn't read file \"{script}\"")
    text = script.read_text()
    name = project_name(cwd)
    say("****** Vivado v2019.2 (64-bit)")
    maybe_sleep()
    if args[3] == "vivado_synth.tcl":
        src = fixture() / "vivado_synth.rpt"
        if not src.is_file():
            src = Path(os.environ["FAKE_XILINX_VSYNTH_RPT"])
        shutil.copy(src, cwd / "vivado_synth.rpt")
        say("INFO: [Common 17-206] Exiting Vivado.")
        return
    ip = cwd / f"{name}_prj" / "solution1" / "impl" / "ip"
    if not any(ip.glob("*.zip")):
        die(f"[IP_Flow 19-3478] IP xilinx.com:hls:{name}_axi:1.0 not found in repository {name}_prj")
    if "package_xo" in text:  # Alveo RTL kernel
        for f in re.search(r"add_files -scan_for_includes \[list ([^\]]+)\]", text).group(1).split():
            if not (cwd / f.replace("${project_name}", name)).is_file():
                die(f"[filemgmt 56-12] file not found: {f}")
        if not (cwd / "xo_files").is_dir():
            die("xo_files does not exist")
        (cwd / "xo_files" / f"{name}_kernel.xo").write_bytes(b"PK\x05\x06" + b"\0" * 18)
        say(f"INFO: [Vivado 12-4471] package_xo: xo_files/{name}_kernel.xo")
    elif "create_bd_design" in text:  # Zynq block design + bitstream
        prj = cwd / f"{name}_vivado_accelerator"
        for src in fixture().glob("*_vivado_accelerator"):
            shutil.copytree(src, prj, dirs_exist_ok=True)
        for rpt in ("util.rpt",):
            if (fixture() / rpt).is_file():
                shutil.copy(fixture() / rpt, cwd / rpt)
        impl = prj / "project_1.runs" / "impl_1"
        impl.mkdir(parents=True, exist_ok=True)
        (impl / "design_1_wrapper.bit").write_bytes(b"\x00\x09\x0f\xf0fake-bitstream")
        hh = prj / "project_1.gen" / "sources_1" / "bd" / "design_1" / "hw_handoff"
        hh.mkdir(parents=True, exist_ok=True)
        (hh / "design_1.hwh").write_text('<?xml version="1.0"?><EDKSYSTEM EDWVERSION="1.2"/>\n')
        say("INFO: [Vivado 12-1842] Bitgen Completed Successfully.")
    else:
        die("vivado: unknown script")
    say("INFO: [Common 17-206] Exiting Vivado.")


def fake_vpp(args, cwd):
    def val(flag):
        return args[args.index(flag) + 1]

    if args[:2] != ["-t", "hw"]:
        die(f"v++: unexpected arguments {args}")
    xo = cwd / val("--link")
    if not xo.is_file():
        die(f"v++: input file {xo} not found")
    if not Path(val("--user_ip_repo_paths")).is_dir():
        die(f"v++: ip repo {val('--user_ip_repo_paths')} not found")
    out = next(a[2:] for a in args if a.startswith("-o") and len(a) > 2)
    maybe_sleep()
    say(f"INFO: [v++ 60-1548] Creating build summary session with primary output {out}")
    (cwd / out).write_bytes(b"xclbin2\0fake platform=" + val("--platform").encode())


def maybe_sleep():
    s = float(os.environ.get("FAKE_XILINX_SLEEP", "0"))
    for _ in range(int(s * 10)):
        say("INFO: [HLS 200-42] still working ...") if _ % 10 == 0 else None
        time.sleep(0.1)


def main():
    tool, args = sys.argv[1], sys.argv[2:]
    cwd = Path.cwd()
    if args in (["-version"], ["--version"]):
        print(VERSIONS[tool])
        return
    log = os.environ.get("FAKE_XILINX_LOG")
    if log:
        with open(log, "a") as f:
            f.write(json.dumps({"tool": tool, "argv": args, "cwd": str(cwd)}) + "\n")
    if os.environ.get("FAKE_XILINX_FAIL") == tool:
        say("INFO: starting")
        die("[HLS 214-124] fake failure requested")
    if tool in ("vivado_hls", "vitis_hls", "vitis-run"):
        fake_hls(tool, args, cwd)
    elif tool == "vivado":
        fake_vivado(args, cwd)
    elif tool == "v++":
        fake_vpp(args, cwd)


if __name__ == "__main__":
    main()
