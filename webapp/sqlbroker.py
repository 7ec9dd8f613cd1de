"""kombu's SQL broker transport (the embedded default), polling ten times a second instead of once.

kombu's virtual transports sleep ``polling_interval`` (1 s by default)
after every empty poll, so on the embedded broker a task waited 0.5 s on
average before a worker saw it: most of an upload's latency (bench figure 2).
The interval is a transport option, but kombu's SQL channel hands every
transport option to ``create_engine``, which refuses one it does not know;
this channel keeps it for the transport. ``use()`` points kombu's ``sqla``
alias here, so broker URLs stay as they are.
"""

from kombu import transport as kombu_transports
from kombu.transport import sqlalchemy as kombu_sql

POLLING_INTERVAL = 0.1
TRANSPORT_ONLY_OPTIONS = ("polling_interval",)


class Channel(kombu_sql.Channel):
    def _engine_from_config(self):
        conninfo = self.connection.client
        saved = conninfo.transport_options
        conninfo.transport_options = {k: v for k, v in saved.items() if k not in TRANSPORT_ONLY_OPTIONS}
        try:
            return super()._engine_from_config()
        finally:
            conninfo.transport_options = saved


class Transport(kombu_sql.Transport):
    Channel = Channel


def use():
    """Make ``sqla+...`` broker URLs use this transport in this process."""
    kombu_transports.TRANSPORT_ALIASES["sqla"] = f"{__name__}:Transport"
    kombu_transports.TRANSPORT_ALIASES["sqlalchemy"] = f"{__name__}:Transport"
