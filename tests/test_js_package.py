"""The browser SDK as the npm package ``idmint`` (``clients/js``): one version, its types, the
tarball ``npm pack`` makes, and that tarball installed and imported.

Where the version lives: ``__version__`` in ``src/idmint/__init__.py`` for Python
(pyproject.toml reads it: ``[tool.hatch.version]``), and for the SDK ``version`` in
``clients/js/package.json`` (``package-lock.json`` repeats it) and ``VERSION`` in
``clients/js/idmint.js`` (a browser loads the module alone, so it cannot read package.json).
``test_one_version`` keeps them equal.

The package has a second entry point, ``idmint/react`` (``react.js``, ``react.d.ts``), with
React as an optional peer dependency: installed without React, ``import "idmint"`` works and
npm installs no React; installed beside React (19, the version of clients/js's lock, and 17,
the oldest the peer range admits), ``idmint/react`` imports, renders on the server and runs.

The TypeScript compiler comes from ``clients/js/node_modules`` (``make test`` runs ``npm ci``
there first). Everything here skips when node or npm is missing. The tarball has no
dependencies, so installing it alone needs no registry; the scratch React applications get
React from npm's cache (filled by ``make js-env``) or, failing that, the registry.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import idmint

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clients" / "js"
MODULE = PACKAGE / "idmint.js"
TYPES = PACKAGE / "idmint.d.ts"
TSC = PACKAGE / "node_modules" / ".bin" / "tsc"

# What the package ships: nothing else (no tests, no lock file, no type-check sources).
SHIPPED = {
    "LICENSE",
    "README.md",
    "idmint.d.ts",
    "idmint.js",
    "package.json",
    "react.d.ts",
    "react.js",
}
REACT_MODULE = PACKAGE / "react.js"
REACT_TYPES = PACKAGE / "react.d.ts"

# npm without the registry, its update check or its cache in the home directory.
NPM_ENV = {
    "npm_config_update_notifier": "false",
    "npm_config_audit": "false",
    "npm_config_fund": "false",
    "npm_config_registry": "http://127.0.0.1:9/",  # nothing listens: a lookup would fail
}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return path


def _run(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def _tsc() -> list[str]:
    node = _tool("node")
    if not TSC.exists():
        pytest.fail(
            "typescript is not installed in clients/js: run `make js-env` (make test does), "
            "or `npm ci` in clients/js"
        )
    return [node, str(TSC)]


def _package_json() -> dict[str, Any]:
    data = json.loads((PACKAGE / "package.json").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


# --- one version -------------------------------------------------------------------------------


def test_one_version() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "version" not in project["project"], "the version is src/idmint/__init__.py's"
    assert "version" in project["project"]["dynamic"]
    assert project["tool"]["hatch"]["version"]["path"] == "src/idmint/__init__.py"

    python = idmint.__version__
    assert re.fullmatch(r"\d+\.\d+\.\d+", python), python
    init = (ROOT / "src" / "idmint" / "__init__.py").read_text(encoding="utf-8")
    assert re.findall(r'^__version__ = "([^"]+)"$', init, re.M) == [python]

    package = _package_json()
    lock = json.loads((PACKAGE / "package-lock.json").read_text(encoding="utf-8"))
    module = re.findall(r'^export const VERSION = "([^"]+)";$', MODULE.read_text("utf-8"), re.M)
    assert {
        "package.json": package["version"],
        "package-lock.json": lock["version"],
        'package-lock.json packages[""]': lock["packages"][""]["version"],
        "idmint.js VERSION": module[0] if len(module) == 1 else module,
    } == dict.fromkeys(
        [
            "package.json",
            "package-lock.json",
            'package-lock.json packages[""]',
            "idmint.js VERSION",
        ],
        python,
    )


def test_the_package_metadata() -> None:
    package = _package_json()
    assert package["name"] == "idmint"
    assert package["license"] == "Apache-2.0"
    assert "private" not in package
    assert package["type"] == "module"
    assert package["exports"] == {
        ".": {"types": "./idmint.d.ts", "import": "./idmint.js", "default": "./idmint.js"},
        "./react": {"types": "./react.d.ts", "import": "./react.js", "default": "./react.js"},
        "./package.json": "./package.json",
    }
    assert sorted(package["files"]) == sorted(SHIPPED - {"package.json"})
    assert package.get("dependencies") is None, "the SDK depends on nothing"
    # React only for idmint/react, and only as the application's own
    assert package["peerDependencies"] == {"react": ">=17"}
    assert package["peerDependenciesMeta"] == {"react": {"optional": True}}
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").lstrip().startswith("Apache License")


# --- types -------------------------------------------------------------------------------------


@pytest.mark.parametrize("config", ["tsconfig.json", "tsconfig.nodom.json", "tsconfig.react.json"])
def test_the_declarations_type_check(config: str) -> None:
    """The guide's usage (with a DOM lib), the declarations without one, and the React
    bindings' against the guide's React example (typecheck/react.tsx)."""
    result = _run([*_tsc(), "--noEmit", "-p", f"typecheck/{config}"], cwd=PACKAGE)
    assert result.returncode == 0, result.stdout + result.stderr


def _type_check(directory: Path, source: str) -> subprocess.CompletedProcess[str]:
    """``source`` as ``directory/check.ts``, importing ``idmint`` from ``directory/node_modules``."""
    (directory / "check.ts").write_text(source, encoding="utf-8")
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "ES2022",
            "lib": ["ES2022", "DOM"],
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "types": [],
            "skipLibCheck": False,
        },
        "files": ["check.ts"],
    }
    (directory / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    if not (directory / "package.json").exists():
        (directory / "package.json").write_text('{"type": "module"}', encoding="utf-8")
    return _run([*_tsc(), "-p", str(directory)], cwd=directory)


GOOD_USAGE = """
import { createClient, IdmintError, VERSION } from "idmint";
const client = createClient({ apiKey: "pk_...", baseUrl: "https://idmint.example.com" });
client.on("error").subscribe((error: IdmintError) => error.code);
export const version: string = VERSION;
"""


def test_wrong_usage_fails_the_type_check(tmp_path: Path) -> None:
    """So that the type check can fail: the same set-up passes good usage, refuses bad."""
    (tmp_path / "node_modules").mkdir()
    (tmp_path / "node_modules" / "idmint").symlink_to(PACKAGE, target_is_directory=True)
    good = _type_check(tmp_path, GOOD_USAGE)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = _type_check(tmp_path, GOOD_USAGE + "createClient(42);\n")
    output = bad.stdout + bad.stderr
    assert bad.returncode != 0, output
    assert re.search(r"check\.ts\(6,\d+\): error TS\d+: .*'number'.*'ClientOptions'", output), (
        output
    )


# --- the tarball -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packed:
    tarball: Path
    members: dict[str, tarfile.TarInfo]

    def read(self, name: str) -> bytes:
        with tarfile.open(self.tarball) as archive:
            extracted = archive.extractfile(f"package/{name}")
            assert extracted is not None, name
            return extracted.read()


@pytest.fixture(scope="module")
def packed(tmp_path_factory: pytest.TempPathFactory) -> Packed:
    npm = _tool("npm")
    _tool("node")  # npm's prepack/postpack scripts run node
    out = tmp_path_factory.mktemp("pack")
    result = _run([npm, "pack", "--pack-destination", str(out)], cwd=PACKAGE, env=NPM_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    tarballs = list(out.glob("*.tgz"))
    assert [t.name for t in tarballs] == [f"idmint-{idmint.__version__}.tgz"]
    with tarfile.open(tarballs[0]) as archive:
        members = {m.name: m for m in archive.getmembers()}
    return Packed(tarballs[0], members)


def test_npm_pack_ships_exactly_the_package(packed: Packed) -> None:
    assert set(packed.members) == {f"package/{name}" for name in SHIPPED}
    for member in packed.members.values():
        assert member.isfile(), f"{member.name} is not a regular file (a symlink left behind?)"
    assert packed.read("idmint.js") == MODULE.read_bytes()
    assert packed.read("idmint.d.ts") == TYPES.read_bytes()
    assert packed.read("react.js") == REACT_MODULE.read_bytes()
    assert packed.read("react.d.ts") == REACT_TYPES.read_bytes()
    assert packed.read("README.md") == (PACKAGE / "README.md").read_bytes()
    assert packed.read("LICENSE") == (ROOT / "LICENSE").read_bytes()
    shipped = json.loads(packed.read("package.json"))
    assert shipped["license"] == "Apache-2.0"
    assert shipped["version"] == idmint.__version__
    # prepack copied the licence in for the tarball; postpack took it out again
    assert not (PACKAGE / "LICENSE").exists()


@pytest.fixture(scope="module")
def installed(packed: Packed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A scratch project with the tarball installed, offline, with a cache of its own."""
    npm = _tool("npm")
    scratch = tmp_path_factory.mktemp("scratch")
    (scratch / "package.json").write_text(
        json.dumps({"name": "scratch", "private": True, "type": "module"}), encoding="utf-8"
    )
    cache = tmp_path_factory.mktemp("npm-cache")
    result = _run(
        [npm, "install", "--offline", "--cache", str(cache), str(packed.tarball)],
        cwd=scratch,
        env=NPM_ENV,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return scratch


def test_the_installed_package_imports_in_node(installed: Path) -> None:
    module = installed / "node_modules" / "idmint" / "idmint.js"
    assert module.is_file()
    assert not module.is_symlink()
    assert module.read_bytes() == MODULE.read_bytes()
    script = """
        import { createClient, IdmintError, VERSION, decodeClaims } from "idmint";
        import * as sdk from "idmint";
        const client = createClient({
            apiKey: "pk_test", baseUrl: "http://127.0.0.1:9", tabSync: false, pageEvents: false,
        });
        const methods = ["identify", "getUser", "getSession", "signOut", "on", "setAuthProvider", "destroy"]
            .filter((name) => typeof client[name] === "function");
        let code = null;
        try { decodeClaims("nope"); } catch (error) { code = error instanceof IdmintError && error.code; }
        client.destroy();
        console.log(JSON.stringify({ version: VERSION, methods, code, exports: Object.keys(sdk).sort() }));
    """
    result = _run([_tool("node"), "--input-type=module", "-e", script], cwd=installed)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["version"] == idmint.__version__
    assert answer["methods"] == [
        "identify",
        "getUser",
        "getSession",
        "signOut",
        "on",
        "setAuthProvider",
        "destroy",
    ]
    assert answer["code"] == "token_malformed"
    # every export is declared in idmint.d.ts
    declared = set(
        re.findall(
            r"^export declare (?:const|function|class) (\w+)", TYPES.read_text("utf-8"), re.M
        )
    )
    assert set(answer["exports"]) == declared


def test_the_installed_package_has_its_types(installed: Path) -> None:
    """TypeScript finds idmint.d.ts through the installed package's ``exports``."""
    result = _type_check(installed, GOOD_USAGE + "export const c = createClient(42);\n")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "'ClientOptions'" in output, output
    result = _type_check(installed, GOOD_USAGE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_installed_without_react_the_sdk_never_loads_it(installed: Path) -> None:
    """React is an optional peer: npm installs none, and ``import "idmint"`` needs none."""
    assert not (installed / "node_modules" / "react").exists()
    script = """
        const sdk = await import("idmint");
        let missing = null;
        try { await import("idmint/react"); } catch (error) { missing = error.code; }
        console.log(JSON.stringify({ sdk: typeof sdk.createClient, missing }));
    """
    result = _run([_tool("node"), "--input-type=module", "-e", script], cwd=installed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {"sdk": "function", "missing": "ERR_MODULE_NOT_FOUND"}


# --- the tarball in React applications ---------------------------------------------------------


def _locked_version(name: str) -> str:
    lock = json.loads((PACKAGE / "package-lock.json").read_text(encoding="utf-8"))
    version: str = lock["packages"][f"node_modules/{name}"]["version"]
    return version


def _react_app(packed: Packed, directory: Path, packages: list[str]) -> Path:
    """A scratch application with the tarball and ``packages`` installed: from npm's cache where
    it has them (``make js-env`` put clients/js's React there), else from the registry."""
    npm = _tool("npm")
    (directory / "package.json").write_text(
        json.dumps({"name": "scratch-react", "private": True, "type": "module"}), encoding="utf-8"
    )
    result = _run(
        [npm, "install", "--prefer-offline", str(packed.tarball), *packages],
        cwd=directory,
        env={key: value for key, value in NPM_ENV.items() if key != "npm_config_registry"},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return directory


# A page with every hook, rendered on the server: no client there, so nothing identified.
SERVER_RENDER = """
    import { createElement as h } from "react";
    import { renderToString } from "react-dom/server";
    import * as bindings from "idmint/react";
    const { IdmintProvider, useIdmintClient, useIdmintEventCallback, useIdmintUser } = bindings;
    function Page() {
        const { client } = useIdmintClient();
        const error = useIdmintEventCallback("error");
        const user = useIdmintUser();
        return h("p", null, `client: ${client ? "yes" : "none"}, error: ${error?.code ?? "none"}, user: ${user?.userId ?? "none"}`);
    }
    let fetched = 0;
    const html = renderToString(
        h(IdmintProvider, { apiKey: "pk_test", baseUrl: "http://127.0.0.1:9", fetch: () => { fetched += 1; } }, h(Page)),
    );
    console.log(JSON.stringify({ html, fetched, exports: Object.keys(bindings).sort() }));
"""

SERVER_HTML = "<p>client: none, error: none, user: none</p>"


def _declared_react_exports() -> set[str]:
    return set(re.findall(r"^export declare function (\w+)", REACT_TYPES.read_text("utf-8"), re.M))


@pytest.fixture(scope="module")
def react_app(packed: Packed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball beside React and React DOM (clients/js's locked version) and React's types."""
    versions = {name: _locked_version(name) for name in ("react", "react-dom", "@types/react")}
    packages = [f"{name}@{version}" for name, version in versions.items()]
    return _react_app(packed, tmp_path_factory.mktemp("scratch-react"), packages)


def test_a_react_app_imports_idmint_react_and_renders_it_on_the_server(react_app: Path) -> None:
    module = react_app / "node_modules" / "idmint" / "react.js"
    assert module.read_bytes() == REACT_MODULE.read_bytes()
    result = _run([_tool("node"), "--input-type=module", "-e", SERVER_RENDER], cwd=react_app)
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout)
    assert answer["html"] == SERVER_HTML
    assert answer["fetched"] == 0
    assert set(answer["exports"]) == _declared_react_exports()


REACT_USAGE = """
import { useEffect } from "react";
import { IdmintProvider, useIdmintClient, useIdmintEventCallback } from "idmint/react";

function Auth() {
  const { client } = useIdmintClient();
  const errorEvent = useIdmintEventCallback("error");
  useEffect(() => {
    if (errorEvent?.code === "token_expired" && client) void client.getUser();
  }, [errorEvent]);
  return <p>{client ? "ready" : "starting"}</p>;
}

export const app = (
  <IdmintProvider apiKey="pk_..." baseUrl="https://idmint.example.com">
    <Auth />
  </IdmintProvider>
);
"""


def test_a_react_app_has_the_bindings_types(react_app: Path) -> None:
    """TypeScript finds react.d.ts through the installed package's ``exports``."""
    config = {
        "compilerOptions": {
            "strict": True,
            "noEmit": True,
            "target": "ES2022",
            "lib": ["ES2022", "DOM"],
            "module": "NodeNext",
            "moduleResolution": "NodeNext",
            "jsx": "react-jsx",
            "types": [],
            "skipLibCheck": False,
        },
        "files": ["check.tsx"],
    }
    (react_app / "tsconfig.json").write_text(json.dumps(config), encoding="utf-8")
    (react_app / "check.tsx").write_text(REACT_USAGE, encoding="utf-8")
    result = _run([*_tsc(), "-p", str(react_app)], cwd=react_app)
    assert result.returncode == 0, result.stdout + result.stderr
    bad = REACT_USAGE.replace('apiKey="pk_..." ', "")
    (react_app / "check.tsx").write_text(bad, encoding="utf-8")
    result = _run([*_tsc(), "-p", str(react_app)], cwd=react_app)
    assert result.returncode != 0
    assert "apiKey" in result.stdout + result.stderr


# React 17 has no useSyncExternalStore: the bindings' own equivalent runs.  No DOM in node, so
# react-test-renderer renders; the SDK's fetch is a fake idmint.
REACT_17_CLIENT = """
    import { createElement as h } from "react";
    import TestRenderer from "react-test-renderer";
    import { IdmintProvider, useIdmintClient, useIdmintEventCallback, useIdmintUser } from "idmint/react";
    const { act, create } = TestRenderer;
    const problems = [];
    console.error = (...args) => problems.push(args.map(String).join(" "));
    const b64 = (value) => Buffer.from(JSON.stringify(value)).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const token = `${b64({ alg: "ES256" })}.${b64({ sub: "ann", iat: now, exp: now + 600 })}.c2ln`;
    const calls = [];
    const fetch = async (url, init) => {
        const path = new URL(url).pathname;
        calls.push(path);
        const body = path === "/v1/identify"
            ? { session: { id: "ses_1", user: { userId: "ann" }, organizationId: null, isAdmin: false,
                expiresAt: new Date((now + 600) * 1000).toISOString(), expiresIn: 600, verified: true, mode: "jwt" } }
            : { signedOut: true };
        return new Response(JSON.stringify(body), { status: 200 });
    };
    const seen = [];
    function Probe() {
        const { client } = useIdmintClient();
        const user = useIdmintUser();
        const error = useIdmintEventCallback("error");
        seen.push({ client, user: user?.userId ?? null, error: error?.code ?? null });
        return null;
    }
    const tree = h(IdmintProvider, { apiKey: "pk_test", baseUrl: "http://127.0.0.1:9", fetch, tabSync: false, pageEvents: false }, h(Probe));
    let renderer;
    act(() => { renderer = create(tree); });
    const first = seen[0].client;
    const { client } = seen.at(-1);
    await act(async () => { await client.identify({ userId: "ann" }, { authToken: token }); });
    const identified = seen.at(-1).user;
    await act(async () => { await client.identify({ userId: "" }).catch(() => {}); });
    const error = seen.at(-1).error;
    await act(async () => { await client.signOut(); });
    const signedOut = seen.at(-1).user;
    act(() => renderer.unmount());
    console.log(JSON.stringify({
        first, started: client !== null && typeof client.identify === "function",
        identified, error, signedOut, calls, problems,
    }));
"""


@pytest.fixture(scope="module")
def react_17_app(packed: Packed, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tarball beside React 17, the oldest React the peer range admits."""
    packages = ["react@17.0.2", "react-dom@17.0.2", "react-test-renderer@17.0.2"]
    return _react_app(packed, tmp_path_factory.mktemp("scratch-react-17"), packages)


def test_react_17_renders_on_the_server_and_runs_the_hooks(react_17_app: Path) -> None:
    node = _tool("node")
    # React DOM 17 has no "exports" map: node's ESM wants the file's own name
    server_render = SERVER_RENDER.replace('"react-dom/server"', '"react-dom/server.js"')
    result = _run([node, "--input-type=module", "-e", server_render], cwd=react_17_app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["html"] == SERVER_HTML
    result = _run([node, "--input-type=module", "-e", REACT_17_CLIENT], cwd=react_17_app)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == {
        "first": None,
        "started": True,
        "identified": "ann",
        "error": "invalid_argument",
        "signedOut": None,
        "calls": ["/v1/identify", "/v1/sign-out"],
        "problems": [],
    }
