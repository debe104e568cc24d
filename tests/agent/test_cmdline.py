from barecloud.agent import cmdline


def test_reads_the_agent_arguments_among_the_kernels() -> None:
    args = cmdline.parse(
        'BOOT_IMAGE=/vmlinuz console=ttyS0 barecloud.api=http://10.0.0.1:6385 '
        'barecloud.token=abc-123 BOOTIF=01-52-54-00-AB-cd-01 quiet\n')
    assert args.api == "http://10.0.0.1:6385"
    assert args.token == "abc-123"
    assert args.bootif == "52:54:00:ab:cd:01"


def test_missing_arguments_are_none() -> None:
    args = cmdline.parse("console=ttyS0 quiet")
    assert (args.api, args.token, args.bootif, args.chain_port) == (None, None, None, None)


def test_the_chain_port() -> None:
    assert cmdline.parse("barecloud.chain_port=7070").chain_port == 7070
    for wrong in ("0", "65536", "http", ""):
        assert cmdline.parse(f"barecloud.chain_port={wrong}").chain_port is None


def test_quoted_values_and_an_unbalanced_quote() -> None:
    assert cmdline.parse('barecloud.api="http://h:1/x" a="b c"').api == "http://h:1/x"
    assert cmdline.parse('barecloud.token=t "unbalanced').token == "t"


def test_bootif_forms() -> None:
    assert cmdline.bootif_mac("01-aa-bb-cc-dd-ee-ff") == "aa:bb:cc:dd:ee:ff"
    assert cmdline.bootif_mac("aa:bb:cc:dd:ee:ff") == "aa:bb:cc:dd:ee:ff"
    assert cmdline.bootif_mac("aa-bb-cc-dd-ee-ff") == "aa:bb:cc:dd:ee:ff"
    assert cmdline.bootif_mac("01-aa-bb") is None
    assert cmdline.bootif_mac("") is None
