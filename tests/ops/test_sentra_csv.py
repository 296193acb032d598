"""The registry file's rules, without a database (SPEC §9 `sentra import`)."""

from __future__ import annotations

import pytest

from app.ops.sentra_csv import RegistryFileError, parse_registry

HEADER = "code,name,province_code,regency_code,coverage_regency_codes,active\n"


def test_columns_in_any_order_a_bom_and_spaces_between_codes() -> None:
    data = (
        "\ufeffactive,coverage_regency_codes,regency_code,province_code,name,code\n"
        "ya,3171  3172 ,,31,Sentra Mulya Jaya,MULYA-JAYA\n"
        "tidak,,3273,32,Sentra Wyata Guna,WYATA-GUNA\n"
    ).encode()
    rows, refused = parse_registry(data)
    assert refused == []
    assert [(r.line, r.body.code, r.body.active, r.body.regency_code) for r in rows] == [
        (2, "MULYA-JAYA", True, None),
        (3, "WYATA-GUNA", False, "3273"),
    ]
    assert rows[0].body.coverage_regency_codes == ["3171", "3172"]


def test_each_bad_row_is_reported_with_its_line() -> None:
    data = (
        HEADER
        + "OK,Sentra Ok,31,3175,,true\n"
        + "OK,Sentra Ok lagi,31,3175,,true\n"
        + ",Tanpa kode,31,,,true\n"
        + "X1,Sentra X,31,3175,3175 3175,true,extra\n"
        + "X2,Sentra X,31,3175,3175 3175,true\n"
    ).encode()
    rows, refused = parse_registry(data)
    assert [r.body.code for r in rows] == ["OK"]
    assert [(r.line, r.code, [(e.pointer, e.code) for e in r.errors]) for r in refused] == [
        (3, "OK", [("/code", "INVALID_VALUE")]),
        (4, None, [("/code", "INVALID_VALUE")]),
        (5, "X1", [(None, "INVALID_VALUE")]),
        (6, "X2", [("/coverage_regency_codes/1", "INVALID_VALUE")]),
    ]


@pytest.mark.parametrize(
    "data", [b"", b"code,name\n", HEADER.replace("active", "aktif").encode(), b"\xff\xfe\x00"]
)
def test_an_unusable_file(data: bytes) -> None:
    with pytest.raises(RegistryFileError):
        parse_registry(data)
