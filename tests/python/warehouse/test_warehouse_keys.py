from python_jobs.warehouse.keys import item_id_from_url, pair_key


def test_shop_url_gives_shop_and_code() -> None:
    assert item_id_from_url("https://www.shop.example/p/T000105/") == "shop:T000105"
    assert item_id_from_url(" https://www.shop.example/p/J000770/ ") == "shop:J000770"


def test_url_without_path_falls_back_to_hash() -> None:
    item_id = item_id_from_url("https://example.com")
    assert item_id.startswith("url:") and len(item_id) == 20


def test_pair_key_is_order_free() -> None:
    assert pair_key("b", "a") == pair_key("a", "b") == "a~b"
