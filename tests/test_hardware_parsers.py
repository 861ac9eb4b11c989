"""Parsers of recorded hardware outputs: field-by-field checks of the profiles they produce."""

from __future__ import annotations

import ctypes
import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmfit_core.hardware import apple, cpu, nvidia, sysfs_gpu
from llmfit_core.hardware.profile import GIB

FIX = Path(__file__).parent / "fixtures" / "hardware"


def test_xeon_amx_cpuinfo_and_caches():
    c = cpu.read_linux_cpu(str(FIX / "xeon_amx"))
    assert c.model == "Intel Xeon Platinum 8488C"
    assert c.vendor == "GenuineIntel"
    assert (c.cores, c.threads) == (8, 16)
    assert c.arch == "x86_64"
    for flag in ("avx2", "fma", "f16c", "avx512", "avx512_vnni", "avx512_bf16", "avx512_fp16", "avx_vnni", "amx", "amx_int8", "amx_bf16"):
        assert flag in c.isa, flag
    assert "neon" not in c.isa
    assert c.l2_cache_kb == 2048 and c.l3_cache_kb == 107520
    assert c.p_cores is None and c.e_cores is None


def test_intel_hybrid_counts_p_and_e_cores():
    c = cpu.read_linux_cpu(str(FIX / "intel_hybrid"))
    assert c.model == "13th Gen Intel Core i9-13900K"
    assert (c.cores, c.threads) == (24, 32)
    assert (c.p_cores, c.e_cores) == (16, 16)  # sysfs lists logical CPUs: 8 P cores x 2 threads, 16 E cores
    assert "avx_vnni" in c.isa and "avx2" in c.isa
    assert "avx512" not in c.isa and "amx" not in c.isa
    assert c.l3_cache_kb == 36864  # no cache sysfs in this fixture: cpuinfo "cache size"


def test_raspberry_pi5_cpuinfo_and_device_tree():
    root = str(FIX / "rpi5")
    c = cpu.read_linux_cpu(root)
    assert c.arch == "arm64"
    assert (c.cores, c.threads) == (4, 4)
    assert c.vendor == "ARM"
    assert c.model == "Raspberry Pi 5 Model B Rev 1.0 (4x Cortex-A76)"
    assert c.isa == ["neon", "fp16", "dotprod"]
    assert cpu.read_board_model(root) == "Raspberry Pi 5 Model B Rev 1.0"


def test_cpuinfo_edge_cases():
    assert cpu.parse_cpuinfo("").model == "unknown CPU"
    assert cpu.parse_cpuinfo("garbage without colons\n\n").threads == 1
    big_little = "\n".join(
        f"processor\t: {i}\nFeatures\t: fp asimd asimddp i8mm sve\nCPU implementer\t: 0x41\nCPU part\t: {'0xd05' if i < 4 else '0xd0b'}\n"
        for i in range(8)
    )
    c = cpu.parse_cpuinfo(big_little)
    assert c.model == "ARM 4x Cortex-A55 + 4x Cortex-A76"
    assert {"neon", "dotprod", "i8mm", "sve"} <= set(c.isa)
    assert cpu.parse_cpu_list("0-7,16-23") == 16
    assert cpu.parse_cpu_list("3") == 1
    assert cpu.parse_cache_size("2 MiB") == 2048
    assert cpu.parse_device_tree_model(b"\x00") is None


def test_nvml_values_two_gpus():
    values = json.loads((FIX / "nvidia_2gpu" / "nvml.json").read_text())
    g4090, g3090 = nvidia.parse_nvml_values(values)
    assert g4090.vendor == g3090.vendor == "nvidia"
    assert g4090.name == "NVIDIA GeForce RTX 4090"
    assert g4090.vram_gb == round(25757220864 / GIB, 2) == 23.99
    assert g4090.vram_free_gb == round(25217466368 / GIB, 2)
    assert g4090.compute_capability == "8.9" and g3090.compute_capability == "8.6"
    assert g4090.bandwidth_gbs == 1008.1  # 384 bit / 8 * 10501 MHz * 2
    assert g3090.bandwidth_gbs == 936.1
    assert g4090.driver == "550.54.14" and g4090.cuda_version == "12.4"
    assert g3090.vram_gb == 24.0
    # the owner limited the 3090 (nvidia-smi -pl 280); the 4090 runs at its default
    assert (g3090.power_limit_w, g3090.default_power_limit_w) == (280.0, 350.0)
    assert (g4090.power_limit_w, g4090.default_power_limit_w) == (450.0, 450.0)
    bad = {"gpus": [{"name": "x", "power_limit_mw": "N/A", "default_power_limit_mw": -5}]}
    assert nvidia.parse_nvml_values(bad)[0].power_limit_w is None
    assert nvidia.parse_nvml_values(bad)[0].default_power_limit_w is None


def test_nvidia_smi_xml_two_gpus():
    gpus = nvidia.parse_nvidia_smi_xml((FIX / "nvidia_2gpu" / "nvidia-smi.xml").read_text())
    assert [g.name for g in gpus] == ["NVIDIA GeForce RTX 4090", "NVIDIA GeForce RTX 3090"]
    assert gpus[0].vram_gb == round(24564 / 1024, 2)
    assert gpus[1].vram_gb == 24.0 and gpus[1].vram_free_gb == round(23775 / 1024, 2)
    assert gpus[0].max_mem_clock_mhz == 10501
    assert gpus[0].bandwidth_gbs is None  # no bus width in the XML: filled from the table later
    assert gpus[0].cuda_version == "12.4" and gpus[1].driver == "550.54.14"
    # both layouts of the power block: gpu_power_readings (drivers >= 530) and power_readings (older)
    assert (gpus[0].power_limit_w, gpus[0].default_power_limit_w) == (450.0, 450.0)
    assert (gpus[1].power_limit_w, gpus[1].default_power_limit_w) == (280.0, 350.0)
    na = ("<nvidia_smi_log><gpu><product_name>X</product_name><gpu_power_readings>"
          "<current_power_limit>N/A</current_power_limit></gpu_power_readings></gpu></nvidia_smi_log>")
    assert nvidia.parse_nvidia_smi_xml(na)[0].power_limit_w is None
    with pytest.raises(ValueError):
        nvidia.parse_nvidia_smi_xml("<nvidia_smi_log><gpu>")


def test_nvidia_detection_without_nvml_is_cpu_only(monkeypatch):
    monkeypatch.setattr(nvidia, "query_nvml", lambda: (_ for _ in ()).throw(ImportError("no pynvml")))
    monkeypatch.setattr(nvidia, "run_nvidia_smi", lambda timeout=5.0: None)
    notes: list[str] = []
    assert nvidia.detect_nvidia(notes) == []
    assert any("nvidia-ml-py is not installed" in n for n in notes)


def test_no_nvidia_driver_is_known_without_importing_pynvml():
    """Start-up time: without the driver's NVML library (this CI machine), pynvml (a large module) is not imported;
    detection answers as when pynvml.nvmlInit() fails: no GPU, no note."""
    pytest.importorskip("pynvml")
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        pytest.skip("this machine has an NVIDIA driver")
    except OSError:
        pass
    code = ("import sys; from llmfit_core.hardware import nvidia; notes = []; gpus = nvidia.detect_nvidia(notes); "
            "print(gpus, notes, 'pynvml' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert res.stdout.strip() == "[] [] False", res.stderr


def test_nvidia_detection_falls_back_to_nvidia_smi(monkeypatch):
    xml = (FIX / "nvidia_2gpu" / "nvidia-smi.xml").read_text()
    monkeypatch.setattr(nvidia, "query_nvml", lambda: (_ for _ in ()).throw(RuntimeError("NVML Shared Library Not Found")))
    monkeypatch.setattr(nvidia, "run_nvidia_smi", lambda timeout=5.0: xml)
    assert len(nvidia.detect_nvidia([])) == 2


def test_amd_sysfs_tree():
    notes: list[str] = []
    cards = sysfs_gpu.read_drm_cards(str(FIX / "amd_sysfs"))
    assert set(cards) == {"card0", "card1"}  # connector entries (card0-DP-1) are not cards
    gpus = sysfs_gpu.parse_drm_cards(cards, notes)
    assert len(gpus) == 1
    g = gpus[0]
    assert g.vendor == "amd"
    assert g.name == "Radeon RX 7900 XTX"  # 0x744c with ~24 GiB VRAM
    assert g.vram_gb == round(25753026560 / GIB, 2)
    assert g.vram_free_gb == round((25753026560 - 1543503872) / GIB, 2)
    assert g.pci_id == "0x1002:0x744c"
    assert (g.power_limit_w, g.default_power_limit_w) == (250.0, 303.0)  # hwmon power1_cap(_default), microwatts
    assert any("card1" in n and "integrated" in n for n in notes)


def test_sysfs_variant_by_vram_and_intel_discrete():
    cards = {
        "card2": {"vendor": "0x1002", "device": "0x744c", "mem_info_vram_total": str(20 * GIB), "mem_info_vram_used": "0"},
        "card0": {"vendor": "0x8086", "device": "0x56a0"},
        "card1": {"vendor": "0x8086", "device": "0xa780"},  # Raptor Lake iGPU: ignored
        "card3": {"vendor": "0x10de", "device": "0x2684"},  # NVIDIA: handled by NVML
    }
    gpus = sysfs_gpu.parse_drm_cards(cards)
    assert [(g.vendor, g.name) for g in gpus] == [("intel", "Arc A770"), ("amd", "Radeon RX 7900 XT")]
    notes: list[str] = []
    navi21 = sysfs_gpu.parse_drm_cards({"card0": {"vendor": "0x1002", "device": "0x73bf", "mem_info_vram_total": str(16 * GIB)}}, notes)
    assert navi21[0].name == "Radeon RX 6800 XT" and "same VRAM" in notes[0]
    unknown = sysfs_gpu.parse_drm_cards({"card0": {"vendor": "0x1002", "device": "0x1234", "mem_info_vram_total": str(8 * GIB)}})
    assert unknown[0].name == "AMD GPU 0x1234"


def test_sysfs_missing_root_is_empty(tmp_path):
    assert sysfs_gpu.read_drm_cards(str(tmp_path)) == {}


def test_apple_m3_max_sysctl_and_system_profiler():
    sysctl = apple.parse_sysctl((FIX / "apple_m3_max" / "sysctl.txt").read_text())
    displays = apple.parse_system_profiler_displays((FIX / "apple_m3_max" / "system_profiler.txt").read_text())
    assert displays == [{"name": "Apple M3 Max", "cores": 40, "vendor": "Apple (0x106b)", "vram_gb": None}]
    c, mem, gpus, unified = apple.apple_profile_parts(sysctl, displays)
    assert unified is True
    assert c.model == "Apple M3 Max" and c.arch == "arm64" and c.vendor == "Apple"
    assert (c.cores, c.threads, c.p_cores, c.e_cores) == (16, 16, 12, 4)
    assert c.isa == ["neon", "fp16", "dotprod", "i8mm", "bf16"]  # FEAT_SME: 0 is not listed
    assert c.l2_cache_kb == 16384
    assert mem.total_gb == 64.0
    assert len(gpus) == 1
    assert (gpus[0].vendor, gpus[0].name, gpus[0].gpu_cores, gpus[0].vram_gb) == ("apple", "Apple M3 Max", 40, None)


def test_apple_system_profiler_json_and_intel_mac():
    js = json.dumps({"SPDisplaysDataType": [{"_name": "Apple M2 Pro", "sppci_model": "Apple M2 Pro", "sppci_cores": "19"}]})
    assert apple.parse_system_profiler_displays(js) == [{"name": "Apple M2 Pro", "cores": 19, "vendor": "", "vram_gb": None}]
    intel = apple.parse_sysctl(
        "machdep.cpu.brand_string: Intel(R) Core(TM) i9-9880H CPU @ 2.30GHz\nhw.memsize: 17179869184\nhw.physicalcpu: 8\n"
        "hw.logicalcpu: 16\nmachdep.cpu.features: FPU VME SSE3 FMA AVX1.0 F16C\nmachdep.cpu.leaf7_features: BMI1 AVX2 BMI2\n"
    )
    sp = ("Graphics/Displays:\n\n    Intel UHD Graphics 630:\n\n      Chipset Model: Intel UHD Graphics 630\n      Type: GPU\n"
          "      VRAM (Dynamic, Max): 1536 MB\n\n    AMD Radeon Pro 5500M:\n\n      Chipset Model: AMD Radeon Pro 5500M\n"
          "      Type: GPU\n      Bus: PCIe\n      PCIe Lane Width: x16\n      VRAM (Total): 8 GB\n      Vendor: AMD (0x1002)\n")
    displays = apple.parse_system_profiler_displays(sp)
    assert [(d["name"], d["vram_gb"]) for d in displays] == [("Intel UHD Graphics 630", 1.5), ("AMD Radeon Pro 5500M", 8)]
    c, mem, gpus, unified = apple.apple_profile_parts(intel, displays)
    assert (unified, c.arch) == (False, "x86_64")
    assert [(g.vendor, g.name, g.vram_gb) for g in gpus] == [("amd", "AMD Radeon Pro 5500M", 8)]
    assert c.isa == ["avx", "avx2", "fma", "f16c"]
    assert (c.cores, c.threads, mem.total_gb) == (8, 16, 16.0)
    assert apple.chip_name_with_cores("Apple M3 Max", 40) == "Apple M3 Max (40-core GPU)"


def test_amd_cpuinfo_cache_size_is_l2():
    text = "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD Ryzen 9 7950X 16-Core Processor\ncache size\t: 1024 KB\n" \
           "physical id\t: 0\ncore id\t\t: 0\nflags\t\t: avx avx2 fma f16c avx512f avx512_vnni avx512_bf16\n"
    c = cpu.parse_cpuinfo(text)
    assert (c.l2_cache_kb, c.l3_cache_kb) == (1024, None)
    assert c.isa == ["avx", "avx2", "fma", "f16c", "avx512", "avx512_vnni", "avx512_bf16"]
    assert c.model == "AMD Ryzen 9 7950X 16-Core Processor"


def test_amdsmi_when_importable(monkeypatch):
    import sys
    import types

    fake = types.ModuleType("amdsmi")
    fake.amdsmi_init = lambda: None
    fake.amdsmi_shut_down = lambda: None
    fake.amdsmi_get_processor_handles = lambda: ["h0", "h1"]
    fake.amdsmi_get_gpu_asic_info = lambda h: {"market_name": "AMD Instinct MI300X", "device_id": "0x74a1"}
    fake.amdsmi_get_gpu_vram_usage = lambda h: {"vram_total": 196592, "vram_used": 1024 if h == "h0" else 0}
    monkeypatch.setitem(sys.modules, "amdsmi", fake)
    gpus = sysfs_gpu.detect_amdsmi([])
    assert [g.name for g in gpus] == ["AMD Instinct MI300X"] * 2
    assert gpus[0].vram_gb == round(196592 / 1024, 2) and gpus[0].vram_free_gb == round((196592 - 1024) / 1024, 2)
    fake.amdsmi_get_processor_handles = lambda: (_ for _ in ()).throw(RuntimeError("driver not loaded"))
    notes: list[str] = []
    assert sysfs_gpu.detect_amdsmi(notes) is None and "amdsmi failed" in notes[0]


def test_strix_halo_apu_is_unified_memory():
    from llmfit_core.hardware.profile import HardwareProfile
    from llmfit_core.hardware.registry import fill_missing

    gpus = sysfs_gpu.parse_drm_cards({"card0": {"vendor": "0x1002", "device": "0x1586", "mem_info_vram_total": str(96 * GIB)}})
    assert gpus[0].name == "AMD Ryzen AI Max+ 395 (Radeon 8060S)" and gpus[0].vram_gb is None
    prof = fill_missing(HardwareProfile(name="halo", gpus=gpus))
    assert prof.unified_memory and prof.gpus[0].bandwidth_gbs == 256 and prof.cpu.mem_bandwidth_gbs == 256
