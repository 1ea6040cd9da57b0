"""notebooks/walkthrough.ipynb runs top to bottom on the demo data (SPEC section 5).

The notebook is executed with nbclient in a kernel on this very interpreter (a kernelspec in a
temporary JUPYTER_PATH points at ``sys.executable``, so no user-level ``python3`` kernelspec
can swap the environment), in a temporary working directory, with ``ASSESS_DATA_DIR`` and
``TMPDIR`` in temporary folders: the kernel inherits the environment. Any cell error fails.
"""

from __future__ import annotations

import json
import re
import sys
import uuid
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "walkthrough.ipynb"
CELL_TIMEOUT = 120
PROBE = "import sys; print('KERNEL-PYTHON=' + sys.executable)"


@pytest.fixture(scope="module")
def executed(tmp_path_factory) -> tuple[nbformat.NotebookNode, Path]:
    """The notebook after running every cell, and its data folder."""
    root = tmp_path_factory.mktemp("notebook")
    data_dir, work, scratch = root / "data", root / "work", root / "tmp"
    for folder in (work, scratch):
        folder.mkdir()
    kernel_name = f"assess-walkthrough-{uuid.uuid4().hex[:8]}"
    spec_dir = root / "jupyter" / "kernels" / kernel_name
    spec_dir.mkdir(parents=True)
    (spec_dir / "kernel.json").write_text(
        json.dumps(
            {
                "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                "display_name": "assess walkthrough test",
                "language": "python",
            }
        )
    )
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    with pytest.MonkeyPatch.context() as env:
        env.setenv("ASSESS_DATA_DIR", str(data_dir))
        env.setenv("TMPDIR", str(scratch))  # the notebook's export folder lands here
        env.setenv("JUPYTER_PATH", str(root / "jupyter"))
        env.setenv("IPYTHONDIR", str(root / "ipython"))
        client = NotebookClient(
            nb,
            kernel_name=kernel_name,
            timeout=CELL_TIMEOUT,
            resources={"metadata": {"path": str(work)}},
        )
        client.execute()  # raises CellExecutionError on the first failing cell
    return nb, data_dir


def code_cell(nb: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and snippet in c.source]
    return cell


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.outputs:
        if output.output_type == "stream":
            parts.append(output.text)
        elif output.output_type in ("execute_result", "display_data"):
            parts.append(output.data.get("text/plain", ""))
    return "".join(parts)


def mime_types(cell: nbformat.NotebookNode) -> set[str]:
    return {
        kind
        for output in cell.outputs
        if output.output_type in ("execute_result", "display_data")
        for kind in output.data
    }


def test_the_notebook_is_saved_without_outputs():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, "the walkthrough has code cells"
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert nb.metadata["kernelspec"]["name"] == "python3"


def test_the_kernel_runs_this_interpreter(executed):
    nb, _data_dir = executed
    assert f"KERNEL-PYTHON={sys.executable}" in text_of(nb.cells[-1])


def test_every_cell_ran_without_error(executed):
    nb, _data_dir = executed
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.execution_count is not None
            assert all(output.output_type != "error" for output in cell.outputs)


def test_the_store_is_the_one_in_ASSESS_DATA_DIR(executed):
    nb, data_dir = executed
    assert f"data folder: {data_dir}" in text_of(code_cell(nb, "open_store(settings)"))
    assert (data_dir / "assess.db").is_file()
    assert "harbour-inspection" in text_of(code_cell(nb, "create_demo(store, files=60)"))


def test_queries_counts_preview_and_frames(executed):
    nb, _data_dir = executed
    counts = text_of(code_cell(nb, "counts = query.counts()"))
    assert "rows from 60 files" in counts
    assert "Counts(files=60" in counts
    preview = code_cell(nb, "query.preview(10)")
    assert {"text/html", "text/plain"} <= mime_types(preview)
    assert "harbour-inspection" in text_of(preview)
    per_class = text_of(code_cell(nb, "per_class = ("))
    assert "mean_confidence" in per_class
    assert "vessel" in per_class
    latest = text_of(code_cell(nb, "print(LATEST_RULE)"))
    assert "ties are broken by the greater assessment id" in latest


def test_bad_options_print_the_valid_choices(executed):
    nb, _data_dir = executed
    errors = text_of(code_cell(nb, "except UnknownChoiceError as error"))
    assert "UnknownChoiceError: unknown scope 'newest'; valid: latest, all" in errors
    assert "valid orders:" in errors
    assert "valid data sources:" in errors
    assert "InvalidOptionError: Annotated Files needs a workflow order" in errors


def test_csv_parquet_and_zip(executed):
    nb, _data_dir = executed
    written = text_of(code_cell(nb, "rows = filtered.write_csv(csv_path)"))
    assert "long.csv" in written
    assert "long.parquet" in written
    assert '"workflow","workflow_order"' in text_of(code_cell(nb, "csv_path.read_text"))
    dtypes = text_of(code_cell(nb, "pd.read_parquet(parquet_path"))
    assert "rows read back" in dtypes
    assert "timestamp" in dtypes
    assert "UTC" in dtypes
    listing = text_of(code_cell(nb, "files_query.write_zip(zip_path)"))
    assert re.search(r"\d+ files, [\d,]+ bytes", listing)
    assert re.search(r"_8492192_1\.(png|jpg)", listing)  # <external-id>_<order>_<count>
    manifest = text_of(code_cell(nb, 'pd.DataFrame(manifest["members"])'))
    assert "'layout': 'files'" in manifest
    assert "sha256" in manifest


def test_drawn_images_are_shown(executed):
    nb, _data_dir = executed
    assert "image/png" in mime_types(code_cell(nb, "drawn = draw_image("))
    assert "image/png" in mime_types(code_cell(nb, "side_by_side"))
    assert "labels:" in text_of(code_cell(nb, "annotated_items(limit=1)"))


def test_the_dashboard_renders_inline(executed):
    nb, _data_dir = executed
    extension = mime_types(code_cell(nb, 'pn.extension("tabulator")'))
    assert "application/vnd.holoviews_load.v0+json" in extension
    for snippet in ("Overview(store=store", "AdminTab(store=store"):
        kinds = mime_types(code_cell(nb, snippet))
        assert "application/vnd.holoviews_exec.v0+json" in kinds
        assert "text/html" in kinds
