"""PII detection and masking for Korean and English text.

A pure library (no other axops imports): the dataset service, the inference gateway and log
redaction use it.

    from axops import pii

    pii.scan("주민번호 900101-1234568, 010-1234-5678")      # [Finding(entity='RRN', ...), ...]
    pii.mask(text, mode="hash", salt=b"secret")             # 'RRN_3f9a1c2b, PHONE_...'
    pii.redact(log_line)                                    # '900101-1******, 010-****-5678'
    pii.summarize_column(arrow_array).level                 # 'restricted'
"""

from axops.pii.mask import MODES, REDACT_ENTITIES, mask, mask_value, redact
from axops.pii.recognizers import (
    ADDRESS_KR,
    ALL_ENTITIES,
    ARN,
    BANK_ACCOUNT,
    BRN,
    CREDIT_CARD,
    DRIVER_LICENSE,
    EMAIL,
    IP_ADDRESS,
    PASSPORT,
    PERSON,
    PHONE,
    RRN,
)
from axops.pii.scanner import (
    DEFAULT_THRESHOLD,
    ColumnSummary,
    Finding,
    scan,
    scan_many,
    sensitivity_level,
    summarize_column,
)

__all__ = [
    "ADDRESS_KR",
    "ALL_ENTITIES",
    "ARN",
    "BANK_ACCOUNT",
    "BRN",
    "CREDIT_CARD",
    "DEFAULT_THRESHOLD",
    "DRIVER_LICENSE",
    "EMAIL",
    "IP_ADDRESS",
    "MODES",
    "PASSPORT",
    "PERSON",
    "PHONE",
    "REDACT_ENTITIES",
    "RRN",
    "ColumnSummary",
    "Finding",
    "mask",
    "mask_value",
    "redact",
    "scan",
    "scan_many",
    "sensitivity_level",
    "summarize_column",
]
