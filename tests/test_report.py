"""The shared report pieces: header from what the run knows, tables, words and durations."""

import pandas as pd

from kerasdl import report, runs


def _run(tmp_path):
    machine = {"cpu": "Test CPU 9000", "cores": 2, "accelerator": None,
               "versions": {"keras": "3.15.1", "tensorflow": "2.21.0"}}
    return runs.Run("demo", root=tmp_path, run_id="r1", info={
        "command": "python -m kerasdl demo --seed 3", "backend": "tensorflow",
        "precision": "float32", "seed": 3, "machine": machine})


def test_header_names_the_command_backend_precision_seed_machine_and_data(tmp_path):
    text = report.header(_run(tmp_path), "Demo on toys", data="toy images")
    assert text == ("## Demo on toys\n\nCommand: `python -m kerasdl demo --seed 3`\n\n"
                    "Run: backend tensorflow 2.21.0 (Keras 3.15.1), precision float32, seed 3, "
                    "on Test CPU 9000 (2 cores, no accelerator).\n\nData: toy images.\n\n")


def test_budget_line(tmp_path):
    assert report.budget(_run(tmp_path), 150, "1 epoch") == (
        "Budget: 1 epoch, 2.5 min on Test CPU 9000 (2 cores, no accelerator).\n\n")


def test_table_from_a_dict_of_rows_a_list_and_a_dataframe():
    rows = {"train": {"accuracy": 0.91234, "loss": None}, "test": {"accuracy": 0.9, "loss": 0.25}}
    assert report.table(rows, index="split", bold=["test"]) == (
        "| split | accuracy | loss |\n|---|---|---|\n| train | 0.9123 | - |\n"
        "| test | **0.9000** | **0.2500** |\n\n")
    listed = [{"k": 1, "share": 0.5}, {"k": 1000, "share": 0.25}]
    assert report.table(listed, formats={"share": report.percent}) == (
        "| k | share |\n|---|---|\n| 1 | 50.00% |\n| 1,000 | 25.00% |\n\n")
    frame = pd.DataFrame(listed)
    assert report.table(frame, formats={"share": report.percent}) == report.table(
        listed, formats={"share": report.percent})


def test_words_and_durations():
    assert report.plural(1, "epoch") == "1 epoch" and report.plural(15, "epoch") == "15 epochs"
    assert report.plural(2, "query", "queries") == "2 queries"
    assert [report.duration(s) for s in (45, 150, 9000)] == ["45 s", "2.5 min", "2.5 h"]
    assert report.fmt(None) == "-" and report.fmt(0.5, 2) == "0.50" and report.percent(0.1234) == "12.34%"


def test_machine_is_measured():
    m = report.machine()
    assert m["cores"] >= 1 and m["cpu"] and m["versions"]["python"]
    assert "core" in report.describe_machine(m)


def test_cpu_model_names_the_family_and_model_where_cpuinfo_has_them(tmp_path):
    core = "processor\t: {}\nvendor_id\t: AuthenticAMD\ncpu family\t: 25\nmodel\t\t: 1\nmodel name\t: AMD EPYC\n\n"
    (tmp_path / "x86").write_text(core.format(0) + core.format(1))
    assert report.cpu_model(tmp_path / "x86") == "AMD EPYC (family 25, model 1)"
    (tmp_path / "arm").write_text("processor\t: 0\nmodel name\t: ARMv8 Processor rev 0\nCPU part\t: 0xd0c\n")
    assert report.cpu_model(tmp_path / "arm") == "ARMv8 Processor rev 0"
    assert report.cpu_model(tmp_path / "absent")  # platform's words instead


def test_join_puts_one_blank_line_between_parts():
    assert report.join("## a\n\n", "text", report.figure("f.png", "f")) == "## a\n\ntext\n\n![f](f.png)\n"
