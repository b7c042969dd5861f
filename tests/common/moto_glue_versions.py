"""moto_server, with Glue's optimistic locking of UpdateTable.

moto accepts UpdateTable's VersionId and ignores it. Glue refuses an update naming a version
that is no longer the table's current one with ConcurrentModificationException (Glue API
Reference, "UpdateTable": VersionId, "the version ID at which to update the table contents").
The schema keeper's race tests need that refusal, so this adds it (under a lock, as moto serves
requests on several threads) and then runs moto_server with the same arguments.
"""

import sys
import threading

from moto.glue import responses
from moto.glue.exceptions import GlueClientError
from moto.server import main


class ConcurrentModificationException(GlueClientError):
    def __init__(self, message: str) -> None:
        super().__init__("ConcurrentModificationException", message)


_lock = threading.Lock()
_update_table = responses.GlueResponse.update_table


def update_table(self):
    version_id = self.parameters.get("VersionId")
    with _lock:
        if version_id is not None:
            database = self.parameters.get("DatabaseName")
            name = self.parameters.get("TableInput", {}).get("Name")
            current = self.glue_backend.get_table(database, name).as_dict()["VersionId"]
            if str(current) != str(version_id):
                raise ConcurrentModificationException(
                    f"Update table failed due to concurrent modifications: version {version_id} is not the current {current}"
                )
        return _update_table(self)


responses.GlueResponse.update_table = update_table

if __name__ == "__main__":
    main(sys.argv[1:])
