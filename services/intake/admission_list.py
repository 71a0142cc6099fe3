"""The admission list in force, as the router holds it: intake's item_hint check and Open311's services follow
it (GET /v1/admission-list on the router, checked periodically), so that an operator's replacement reaches
them without a restart. Until the router answers, the shipped list applies."""

from __future__ import annotations

import dataclasses
import logging

import httpx

from gridloop.admission.admission_list import (
    HEADER,
    VISIBILITY_COLUMN,
    AdmissionItem,
    AdmissionList,
    parse_admission_list,
)

log = logging.getLogger(__name__)
ADMISSION_LIST_PATH = "/v1/admission-list"


def list_from_view(view: dict[str, object]) -> AdmissionList:
    """The router's JSON view back into a validated list, under the router's version."""
    items = view.get("items")
    version = view.get("version")
    if not isinstance(items, list) or not isinstance(version, str):
        raise ValueError("not an admission list view")
    rows = ["\t".join([*HEADER, VISIBILITY_COLUMN])]
    for item in items:
        fields = [*(str(item[f]).replace("\t", " ") for f in HEADER), str(item.get("visibility", "personal"))]
        rows.append("\t".join(fields))
    return dataclasses.replace(parse_admission_list("\n".join(rows)), version=version)


class RouterAdmissionList:
    """This intake replica's copy of the list in force in the router."""

    def __init__(self, shipped: AdmissionList) -> None:
        self.current = shipped

    @property
    def version(self) -> str:
        return self.current.version

    def get(self, code: str) -> AdmissionItem | None:
        return self.current.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.current

    async def refresh(self, client: httpx.AsyncClient) -> bool:
        """Ask the router; True if the list in force changed."""
        response = await client.get(ADMISSION_LIST_PATH)
        response.raise_for_status()
        view = response.json()
        if view.get("version") == self.current.version:
            return False
        new = list_from_view(view)
        log.info("admission list %s now in force at intake (was %s)", new.version, self.current.version)
        self.current = new
        return True
