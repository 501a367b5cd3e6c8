"""Bronze: raw landing objects → Delta tables under ``<lake>/bronze/``.

The rooms: ``tables`` (the tables' schemas, reading a table), ``records`` (a record's bytes to a row
or a quarantine reason: the key contract below), ``batch`` (what one load gathers), ``identity`` (new,
repeat or conflict), ``loader`` (:class:`~ingestion.bronze.loader.BronzeLoader`, compaction) and
``bulk`` (the bulk parser).

Bronze keeps everything that arrived and interprets nothing (docs/architecture.md):

* ``bronze/pin``, ``bronze/geo``, ``bronze/user``: the entity's source fields as delivered, each as
  text (a JSON string as is, a number as its JSON text, ``null`` as NULL, an object or array as its
  JSON text), the original JSON line in ``_raw_json`` (so unknown fields are never lost) and lineage:
  ``_source`` (kafka/kinesis), ``_topic``, ``_partition``, ``_offset``, ``_landing_object``,
  ``_ingested_at``, ``_topic_id``; and ``_json_types``, each field's JSON type as delivered. An
  integer of any size keeps all its digits (never a float's approximation).
* ``bronze/quarantine``: every record that is not a JSON object whose index keeps the key contract
  (below), or that is not valid UTF-8 / Unicode, with the reason, its raw bytes and the same lineage.
  The rest of its object still loads.
* ``bronze/_loaded_objects``: the ledger of landing objects already loaded (key and size).

The key contract (KEY_CONTRACT): the index of a record (``index`` of a pin, ``ind`` of a geo or user
record) is **a JSON integer, or a JSON string of ASCII digits 0-9 with an optional leading '-', whose
value lies within the signed 64-bit range -2^63 .. 2^63-1**, so that every engine downstream can cast
it to BIGINT. Leading zeros in a string (``"007"``) are allowed (every engine reads them). Refused,
as ``bad_index``: a number with a fraction or exponent (``5.0``, ``1e300``), a boolean, an object or
array, a string with anything else (whitespace, ``'+'``, ``"--5"``, ``"²"``, full-width ``"１２"``, an
empty string) and any value outside the range (``9223372036854775808``, ``"9999999999999999999"``).
``null`` or no index at all is ``missing_index``. The emulator and the real records send JSON
integers.

Text: a UTF-8 byte order mark at the start of a record value (so at the start of a landing object) is
dropped, not quarantined. Bytes that are not UTF-8 and a JSON string escape that is a lone surrogate
(``"\\ud83d"``, half an emoji: no UTF-8 text can hold it) are quarantined as ``not_utf8``.

Exactly once: an object whose (key, size) is in the ledger is skipped. A record's delivery identity
is its topic incarnation (``_topic_id``), partition and offset: one that bronze already holds with the
same bytes (an object rewritten after a crash, overlapping objects) is dropped before the append; one
it holds with other bytes is quarantined as ``offset_conflict`` (``identity.py``;
docs/data-contract.md, "Delivery identity"). One loader per lake at a time (one writer per table): a load
holds the lake's ``bronze`` lock (ingestion/locks.py).
A commit builds every table of the batch before it writes the first one, so a record never stops a
load half-way; the ledger is written last, so a load that stops between two writes (an I/O error)
reads the same objects again next time and adds only what is missing.

Two parsers, one outcome: the **bulk** loader (the default) parses and types whole objects at once
with pyarrow's JSON reader, on a pool of threads (``bulk.py``), and sends to the
**per-line** path (one orjson call per object, then line by line) only the lines, or objects, whose
bulk result it cannot prove identical; ``PINPIPE_BRONZE_LOADER=per-line`` forces the per-line path
everywhere. Both write the same rows, quarantine, lineage and ledger. A commit holds at most
``PINPIPE_BRONZE_BATCH_RECORDS`` records or ``PINPIPE_BRONZE_BATCH_BYTES`` bytes of landing objects
(whichever comes first), so memory is bounded by the batch, not by the day. The appends of a commit
are cut into parts written side by side, one thread per core (concurrent Delta commits to one table,
which delta-rs makes safe with a put-if-absent of each log entry); the ledger still comes last.
"""
