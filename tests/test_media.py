"""Images and PDFs: each wire's native shape, the catalog's vision/PDF facts, and the router's promise
that a model which cannot read an attachment gets a text stand-in instead ([VISION_ANALYSIS ...] from
a vision model, or the PDF's text extracted with pypdf)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from aiohttp import web

from assistant.agent import Agent
from assistant.catalog import ModelCatalog
from assistant.errors import AllModelsFailedError, UsageError
from assistant.messages import ChatRequest, DocumentPart, ImagePart, Message
from assistant.providers import create_client
from assistant.providers.gemini import build_body as gemini_body
from assistant.providers.ollama import build_body as ollama_body
from assistant.registry import LLMRegistry
from assistant.router import Router

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 16).decode()
IMAGE = ImagePart(data=PNG, media_type="image/png")
KEY = "sk-test-0000000000000000000000"


def make_pdf(text: str) -> bytes:
    """A one-page PDF whose page shows ``text`` in Helvetica (enough for a text extractor)."""
    content = f"BT /F1 18 Tf 20 80 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 400 144] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out, offsets = bytearray(b"%PDF-1.4\n"), []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


PDF = DocumentPart.from_bytes(make_pdf("Invoice total: 4217 EUR"), name="invoice.pdf")


# --- records ------------------------------------------------------------------------------------

def test_content_given_as_parts_splits_into_text_and_attachments() -> None:
    message = Message.user(["What is this?", IMAGE, {"type": "document", "url": "https://example.com/a.pdf"}])
    assert message.content == "What is this?"
    assert [a.type for a in message.attachments] == ["image", "document"]
    assert Message.model_validate_json(message.model_dump_json()) == message


def test_base64_data_without_a_media_type_is_refused() -> None:
    with pytest.raises(ValueError, match="media_type"):
        ImagePart(data=PNG)


# --- wires --------------------------------------------------------------------------------------

def _server(fake_server: Any, answer: Any) -> Any:
    async def handle(request: web.Request) -> web.Response:
        server.bodies.append(await request.json())
        return web.json_response(answer(server.bodies[-1]))

    server = fake_server(handle)
    server.bodies = []
    return server


def _openai_answer(text: str = "ok") -> Any:
    return lambda body: {"id": "c", "object": "chat.completion", "model": body["model"],
                         "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                         "usage": {"prompt_tokens": 5, "completion_tokens": 2}}


async def test_openai_shape_sends_image_url_and_file_parts(fake_server) -> None:
    server = _server(fake_server, _openai_answer())
    client = create_client("openai", api_key=KEY, base_url=server.url + "/v1")
    await client.chat(ChatRequest(model="gpt-4o-mini", messages=[Message.user(["Read both.", IMAGE, PDF])]))
    await client.aclose()
    parts = server.bodies[0]["messages"][0]["content"]
    assert parts[0] == {"type": "text", "text": "Read both."}
    assert parts[1] == {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    assert parts[2]["type"] == "file" and parts[2]["file"]["filename"] == "invoice.pdf"
    assert parts[2]["file"]["file_data"].startswith("data:application/pdf;base64,")


async def test_anthropic_sends_image_and_document_blocks_before_the_text(fake_server) -> None:
    answer = {"id": "m", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
              "content": [{"type": "text", "text": "ok"}], "stop_reason": "end_turn",
              "usage": {"input_tokens": 5, "output_tokens": 1}}
    server = _server(fake_server, lambda body: answer)
    client = create_client("anthropic", api_key=KEY, base_url=server.url)
    url_image = ImagePart(url="https://example.com/cat.jpg")
    await client.chat(ChatRequest(model="claude-haiku-4-5", messages=[Message.user(["Read.", url_image, PDF])]))
    await client.aclose()
    blocks = server.bodies[0]["messages"][0]["content"]
    assert blocks[0] == {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}}
    assert blocks[1]["type"] == "document" and blocks[1]["source"]["media_type"] == "application/pdf"
    assert blocks[2]["type"] == "text" and blocks[2]["text"] == "Read."


def test_gemini_sends_inline_and_file_data_parts() -> None:
    url_pdf = DocumentPart(url="https://example.com/a.pdf")
    body = gemini_body(ChatRequest(model="gemini-2.5-flash", messages=[Message.user(["Read.", IMAGE, url_pdf])]))
    parts = body["contents"][0]["parts"]
    assert parts[0] == {"text": "Read."}
    assert parts[1] == {"inlineData": {"mimeType": "image/png", "data": PNG}}
    assert parts[2] == {"fileData": {"mimeType": "application/pdf", "fileUri": "https://example.com/a.pdf"}}


def test_ollama_sends_base64_images() -> None:
    body = ollama_body(ChatRequest(model="llava", messages=[Message.user(["What is it?", IMAGE])]), stream=False)
    assert body["messages"][0]["images"] == [PNG]


def test_ollama_refuses_an_image_url_with_the_fix() -> None:
    with pytest.raises(UsageError, match="base64"):
        ollama_body(ChatRequest(model="llava", messages=[Message.user(["?", ImagePart(url="https://x/a.png")])]),
                    stream=False)


def test_the_catalog_knows_who_reads_images_and_pdfs() -> None:
    catalog = ModelCatalog()
    assert catalog.get("anthropic/claude-haiku-4-5").supports_pdf is True
    assert catalog.get("openai/gpt-4o-mini").supports_vision is True
    assert catalog.get("groq/llama-3.1-8b-instant").supports_vision is False


# --- the router's promise -----------------------------------------------------------------------

def _images_in(body: dict[str, Any]) -> int:
    return sum(1 for m in body["messages"] if isinstance(m.get("content"), list)
               for p in m["content"] if p.get("type") in ("image_url", "file"))


def _two_providers(fake_server: Any, main_text: str = "It is a cat.") -> tuple[Router, Any, Any]:
    vision = _server(fake_server, _openai_answer("A grey cat on a red sofa; the sign says OPEN."))
    blind = _server(fake_server, _openai_answer(main_text))
    registry = LLMRegistry()
    registry.add_provider("openai", base_url=vision.url + "/v1", api_key=KEY)
    registry.add_provider("groq", base_url=blind.url + "/v1", api_key=KEY)
    return Router(registry), vision, blind


@pytest.fixture(autouse=True)
def _vision_chain(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ASSISTANT_MODEL_VISION", "openai/gpt-4o-mini")


def test_the_default_vision_chain_puts_free_vision_models_of_configured_providers_first(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_MODEL_VISION")
    registry = LLMRegistry()
    registry.add_provider("openai", api_key=KEY)
    registry.add_provider("groq", api_key=KEY)
    chain = Router(registry).media.chain()
    assert chain.index("groq/meta-llama/llama-4-scout-17b-16e-instruct") < chain.index("openai/gpt-4o-mini")
    assert not any(m.startswith("anthropic/") for m in chain)


async def test_a_model_that_cannot_see_gets_a_vision_analysis_instead_of_the_image(fake_server) -> None:
    router, vision, blind = _two_providers(fake_server)
    response = await router.chat("groq/llama-3.1-8b-instant", [Message.user(["What does the sign say?", IMAGE])])
    await router.aclose()
    assert response.text == "It is a cat."
    assert _images_in(vision.bodies[0]) == 1 and vision.bodies[0]["model"] == "gpt-4o-mini"
    assert _images_in(blind.bodies[0]) == 0
    sent = blind.bodies[0]["messages"][-1]["content"]
    assert sent.startswith("[VISION_ANALYSIS image 1 by openai/gpt-4o-mini]")
    assert "the sign says OPEN" in sent and sent.endswith("What does the sign say?")


async def test_each_image_is_described_once_across_steps(fake_server) -> None:
    router, vision, blind = _two_providers(fake_server)
    history = [Message.user(["What is it?", IMAGE])]
    await router.chat("groq/llama-3.1-8b-instant", history)
    await router.chat("groq/llama-3.1-8b-instant", [*history, Message.assistant("A cat."), Message.user("Sure?")])
    await router.aclose()
    assert len(vision.bodies) == 1 and len(blind.bodies) == 2


async def test_a_model_that_can_see_gets_the_image_itself(fake_server) -> None:
    router, vision, blind = _two_providers(fake_server)
    await router.chat("openai/gpt-4o-mini", [Message.user(["What is it?", IMAGE])])
    await router.aclose()
    assert len(vision.bodies) == 1 and _images_in(vision.bodies[0]) == 1 and blind.bodies == []


async def test_with_no_vision_model_the_image_never_reaches_a_blind_model(fake_server) -> None:
    blind = _server(fake_server, _openai_answer())
    registry = LLMRegistry()
    registry.add_provider("groq", base_url=blind.url + "/v1", api_key=KEY)
    router = Router(registry)
    with pytest.raises(AllModelsFailedError, match="cannot read the images"):
        await router.chat("groq/llama-3.1-8b-instant", [Message.user(["What is it?", IMAGE])])
    await router.aclose()
    assert blind.bodies == []


async def test_a_model_without_pdf_input_gets_the_pdfs_text(fake_server) -> None:
    router, vision, blind = _two_providers(fake_server, main_text="4217 EUR")
    await router.chat("groq/llama-3.1-8b-instant", [Message.user(["What is the total?", PDF])])
    await router.aclose()
    sent = blind.bodies[0]["messages"][-1]["content"]
    assert sent.startswith("[DOCUMENT invoice.pdf") and "Invoice total: 4217 EUR" in sent
    assert vision.bodies == []


async def test_the_agent_takes_attachments_with_the_task(fake_server) -> None:
    router, vision, blind = _two_providers(fake_server, main_text="The sign says OPEN.")
    agent = Agent("groq/llama-3.1-8b-instant", router=router)
    result = await agent.run("What does the sign say?", attachments=[IMAGE])
    await router.aclose()
    assert result.output == "The sign says OPEN."
    assert "[VISION_ANALYSIS" in blind.bodies[0]["messages"][-1]["content"]


def test_assistant_run_attaches_files(fake_server, monkeypatch: pytest.MonkeyPatch, tmp_path: Any,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    server = _server(fake_server, _openai_answer("A PNG and an invoice."))
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("OPENAI_BASE_URL", server.url + "/v1")
    (tmp_path / "shot.png").write_bytes(base64.b64decode(PNG))
    (tmp_path / "invoice.pdf").write_bytes(make_pdf("Total 12"))
    code = main(["run", "What are these?", "--model", "openai/gpt-4o-mini", "--no-tools", "--no-mcp",
                 "--attach", str(tmp_path / "shot.png"), "-a", str(tmp_path / "invoice.pdf")])
    assert code == 0 and capsys.readouterr().out.strip() == "A PNG and an invoice."
    assert _images_in(server.bodies[0]) == 2


def test_assistant_run_refuses_an_attachment_it_cannot_send(tmp_path: Any, capsys: pytest.CaptureFixture[str]) -> None:
    from assistant.cli import main

    (tmp_path / "notes.docx").write_bytes(b"x")
    assert main(["run", "read", "--model", "openai/gpt-4o-mini", "--attach", str(tmp_path / "notes.docx")]) == 2
    assert "send a PDF or an image" in capsys.readouterr().err
