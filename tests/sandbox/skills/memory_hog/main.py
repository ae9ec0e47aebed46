def run(payload):
    blocks = []
    while True:
        # b"\x01" * n writes every byte, so the pages are really resident.
        blocks.append(b"\x01" * (8 * 1024 * 1024))
