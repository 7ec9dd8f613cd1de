"""Issue 15: one byte-size rule everywhere: the pages (Python) and the progress bars (static/js/sizes.js) agree."""

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from webapp.templating import human_size
from workers.plain import human_bytes

SIZES_JS = Path(__file__).resolve().parents[2] / "webapp" / "static" / "js" / "sizes.js"
SAMPLES = [0, 1, 1000, 1023, 1024, 1536, 1_310_720, 1_048_575, 10 * 1024**2 - 1, 2_147_483_648,
           2_254_857_830, 32 * 1024**3, 100 * 1000**3, 5 * 1024**5, 3 * 1024**6]


def test_the_rule_names_binary_units_and_rounds_half_up():
    assert human_bytes(1000) == "1000 bytes"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(1_310_720) == "1.3 MiB", "1.25 rounds up, as in the browser"
    assert human_bytes(1_048_575) == "1.0 MiB", "never 1024.0 KiB"
    assert human_bytes(32 * 1024**3) == "32.0 GiB"
    assert human_size(None) == "" and human_size(2_147_483_648) == "2.0 GiB"


def test_the_browser_writes_every_size_as_the_pages_do():
    node = shutil.which("node")
    if node is None:
        pytest.skip("no node on PATH to run static/js/sizes.js")
    script = (f"import {{ formatBytes }} from {json.dumps(SIZES_JS.as_uri())};"
              f"console.log(JSON.stringify({json.dumps(SAMPLES)}.map(formatBytes)))")
    shown = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True, check=True,
                           timeout=30)
    assert json.loads(shown.stdout) == [human_bytes(n) for n in SAMPLES]


def test_the_upload_page_states_the_limit_by_the_same_rule(app, client, accounts):
    from webapp.extensions import db
    from webapp.models import Collection

    user_id = accounts.create()
    accounts.login()
    with app.app_context():
        collection = Collection(owner_id=user_id, name="Sizes")
        db.session.add(collection)
        db.session.commit()
        collection_id = collection.id
    page = client.get(f"/collections/{collection_id}/upload").get_data(as_text=True)
    assert f"up to {human_bytes(app.config['MAX_UPLOAD_BYTES'])} each".lower() in page.lower()
