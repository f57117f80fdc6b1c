"""A boto3 session whose Cognito service model is the installed one with parts taken out, as an older botocore has
it: for the tests that the program's own Cognito resources refuse such a model before any call."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import botocore.session


def older_model_session(tmp_path: Path, region: str, edit: Callable[[dict[str, Any]], None]) -> Any:
    installed = Path(botocore.__file__).parent / "data" / "cognito-idp" / "2016-04-18"
    model = json.loads(gzip.decompress((installed / "service-2.json.gz").read_bytes()))
    edit(model)
    target = tmp_path / "data" / "cognito-idp" / "2016-04-18"
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    for extra in installed.iterdir():
        if extra.name.startswith("endpoint-rule-set"):
            (target / extra.name).write_bytes(extra.read_bytes())
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(tmp_path / "data"))
    return boto3.session.Session(botocore_session=session, region_name=region)
