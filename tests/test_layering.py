"""The import structure of au_jax, read with `ast` (nothing is imported).

- no import circle between au_jax modules (module-level imports and imports
  inside functions both count);
- au_jax imports nothing from tfds_builders, configs, benchmarks or launch
  (they sit above it);
- the method code (au_jax/models) reaches no module of BELOW_NOT, directly
  or through others: the media front end au_jax.predict sits above it (a
  report restores a run with au_jax.inference.model);
- no import inside a function names an au_jax module: an import that has to
  hide in a function hides a circle. Imports of optional or heavy
  third-party packages may sit in a function; each is listed in LAZY with why;
- a module that imports by name at run time (importlib.import_module) is
  listed in DYNAMIC with why, and every string in it that names an au_jax
  module counts as an import of that module (the method table of
  au_jax/models/__init__.py), so a circle through it is still found.
"""
from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "au_jax"
ABOVE = ("tfds_builders", "configs", "benchmarks", "launch", "tests")
# (package, module it must not reach): the module sits above the package.
BELOW_NOT = (("au_jax.models", "au_jax.predict"),)

# (file relative to the repository root, module imported inside a function): why.
LAZY = {
    ("au_jax/data/sources.py", "tensorflow_datasets"):
        "slow to import: prediction reads DataInfo from this module and never TFDS",
    ("au_jax/face/detect.py", "dlib"): "optional: dlib's detector is an extra",
    ("au_jax/inference/beam.py", "apache_beam"):
        "optional: the [beam] extra; au_jax.predict must not need it",
    ("au_jax/inference/demo_media.py", "matplotlib"): "only for the demo figure",
    ("au_jax/inference/demo_media.py", "skimage.data"): "optional: the demo's sample photo",
    ("au_jax/inference/plots.py", "matplotlib"): "figures only when asked for",
    ("au_jax/inference/plots.py", "matplotlib.figure"): "figures only when asked for",
    ("au_jax/inference/plots.py", "pandas"): "pandas is slow to import: only to read a CSV back",
    ("au_jax/inference/table.py", "pandas"): "pandas is slow to import: only for DataFrames",
    ("au_jax/predict.py", "pandas"): "pandas is slow to import: only for DataFrames",
    ("au_jax/models/dsin/report.py", "matplotlib"): "figures only when drawn (au_jax.viz)",
    ("au_jax/models/dsin/report.py", "matplotlib.patches"): "figures only when drawn (au_jax.viz)",
    ("au_jax/viz.py", "matplotlib.figure"):
        "figures only when drawn: a run starts without matplotlib",
    ("au_jax/viz.py", "matplotlib.lines"): "figures only when drawn",
    ("au_jax/models/multilabel/report.py", "sklearn.manifold"):
        "optional: the t-SNE figure is skipped without scikit-learn",
    ("au_jax/xla_options.py", "jaxlib"): "xla_options is used before JAX is imported",
    ("au_jax/xla_options.py", "jax._src"): "xla_options is used before JAX is imported",
}


# file relative to the repository root: why it imports modules by name.
DYNAMIC = {
    "au_jax/models/__init__.py": "get_spec imports only the named method's package (PACKAGES)",
    "au_jax/sweep.py": "loads the config file named on the command line and, as its command "
                       "line, the dataset builders (configs and tfds_builders sit above)",
}
DYNAMIC_CALLS = ("import_module", "__import__")


def module_name(path: pathlib.Path, root: pathlib.Path) -> str:
  parts = list(path.relative_to(root).with_suffix("").parts)
  if parts[-1] == "__init__":
    parts = parts[:-1]
  return ".".join(parts)


def imports(path: pathlib.Path, modules: set[str], root: pathlib.Path):
  """(module imported, line, inside a function) for every import of the file;
  `from package import name` names the submodule where `name` is one."""
  tree = ast.parse(path.read_text(), str(path))
  me = module_name(path, root)
  package = me if path.name == "__init__.py" else me.rpartition(".")[0]
  inside = set()
  for fn in ast.walk(tree):
    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
      inside.update(id(n) for n in ast.walk(fn) if n is not fn)
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      for alias in node.names:
        yield alias.name, node.lineno, id(node) in inside
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ""
      if node.level:
        up = package.split(".")[:len(package.split(".")) - node.level + 1]
        base = ".".join(up + ([base] if base else []))
      for alias in node.names:
        sub = f"{base}.{alias.name}"
        yield (sub if sub in modules else base), node.lineno, id(node) in inside


def dynamic_imports(path: pathlib.Path, modules: set[str]):
  """(line of an importlib.import_module / __import__ call or None, [(au_jax module named by
  a string of the file, line, inside a function)])."""
  tree = ast.parse(path.read_text(), str(path))
  inside = set()
  for fn in ast.walk(tree):
    if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
      inside.update(id(n) for n in ast.walk(fn) if n is not fn)
  call, named = None, []
  for node in ast.walk(tree):
    if isinstance(node, ast.Call):
      f = node.func
      name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", None)
      if name in DYNAMIC_CALLS and call is None:
        call = node.lineno
    elif (isinstance(node, ast.Constant) and isinstance(node.value, str)
          and node.value in modules):
      named.append((node.value, node.lineno, id(node) in inside))
  return call, named


def import_graph(root: pathlib.Path):
  """{module: {imported au_jax module: (file, line)}} and the function-local imports."""
  files = {module_name(p, root): p for p in sorted((root / PACKAGE).rglob("*.py"))}
  graph, local, above, dynamic = {m: {} for m in files}, [], [], []
  for mod, path in files.items():
    rel = path.relative_to(root).as_posix()
    found = list(imports(path, set(files), root))
    call, named = dynamic_imports(path, set(files))
    if call is not None:
      dynamic.append((rel, call))
      found += named
    for name, line, in_function in found:
      top = name.split(".")[0]
      if top in ABOVE:
        above.append(f"{rel}:{line} imports {name}")
      if in_function:
        local.append((rel, name, line))
      target = name
      while target and target not in files:
        target = target.rpartition(".")[0]
      if target and target != mod:
        graph[mod].setdefault(target, (rel, line))
  return graph, files, local, above, dynamic


def find_cycle(graph) -> list[str] | None:
  """One cycle of the graph as [a, b, ..., a], or None."""
  state, stack = {}, []

  def visit(node):
    state[node] = 1
    stack.append(node)
    for nxt in sorted(graph.get(node, ())):
      if state.get(nxt) == 1:
        return stack[stack.index(nxt):] + [nxt]
      if nxt not in state:
        found = visit(nxt)
        if found:
          return found
    stack.pop()
    state[node] = 2
    return None

  for node in sorted(graph):
    if node not in state:
      found = visit(node)
      if found:
        return found
  return None


def import_chain(graph, start: str, goal: str) -> list[str] | None:
  """[start, ..., goal] along imports (breadth first: a shortest chain), or None."""
  parent, todo = {start: None}, [start]
  while todo:
    node = todo.pop(0)
    if node == goal:
      chain = []
      while node is not None:
        chain.append(node)
        node = parent[node]
      return chain[::-1]
    for nxt in sorted(graph.get(node, ())):
      if nxt not in parent:
        parent[nxt] = node
        todo.append(nxt)
  return None


def check(root: pathlib.Path) -> list[str]:
  """Every layering problem of the package under `root`, as readable lines."""
  graph, files, local, above, dynamic = import_graph(root)
  problems = list(above)
  for rel, line in dynamic:
    if rel not in DYNAMIC:
      problems.append(f"{rel}:{line} imports a module by name; import it, or list the file in "
                      f"DYNAMIC with the reason")
  for package, banned in BELOW_NOT:
    for mod in sorted(graph):
      if mod != package and not mod.startswith(package + "."):
        continue
      chain = import_chain(graph, mod, banned)
      if chain:
        steps = " -> ".join(f"{graph[a][b][0]}:{graph[a][b][1]}" for a, b in zip(chain, chain[1:]))
        problems.append(f"{files[mod].relative_to(root).as_posix()} reaches {banned}: {steps}")
  cycle = find_cycle(graph)
  if cycle:
    problems.append("import circle: " + " -> ".join(
        f"{files[a].relative_to(root).as_posix()}:{graph[a][b][1]}"
        for a, b in zip(cycle, cycle[1:])) + f" -> {files[cycle[0]].relative_to(root)}")
  for rel, name, line in local:
    if name.split(".")[0] == PACKAGE:
      problems.append(f"{rel}:{line} imports {name} inside a function")
    elif (rel, name) not in LAZY:
      problems.append(f"{rel}:{line} imports {name} inside a function; import it at module "
                      f"level or list it in LAZY with the reason")
  return problems


def test_au_jax_has_no_import_circle_and_imports_nothing_above_it():
  assert check(ROOT) == []


def test_every_lazy_import_listed_is_still_there():
  _, _, local, _, dynamic = import_graph(ROOT)
  assert set(LAZY) <= {(rel, name) for rel, name, _ in local}
  assert set(DYNAMIC) <= {rel for rel, _ in dynamic}


def _write(root: pathlib.Path, files: dict[str, str]) -> pathlib.Path:
  for rel, text in files.items():
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
  return root


@pytest.mark.parametrize("files, expected", [
    ({"au_jax/__init__.py": "", "au_jax/a.py": "from au_jax import b\n",
      "au_jax/b.py": "import au_jax.c\n", "au_jax/c.py": "from au_jax.a import x\n"},
     "import circle: au_jax/a.py:1 -> au_jax/b.py:1 -> au_jax/c.py:1 -> au_jax/a.py"),
    ({"au_jax/__init__.py": "", "au_jax/a.py": "def f():\n  from au_jax import b\n",
      "au_jax/b.py": "from au_jax import a\n"},
     "import circle"),
    ({"au_jax/__init__.py": "", "au_jax/a.py": "def f():\n  from au_jax import b\n",
      "au_jax/b.py": ""},
     "au_jax/a.py:2 imports au_jax.b inside a function"),
    ({"au_jax/__init__.py": "", "au_jax/d/__init__.py": "",
      "au_jax/d/s.py": "from tfds_builders.common import split_name\n"},
     "au_jax/d/s.py:1 imports tfds_builders.common"),
    ({"au_jax/__init__.py": "", "au_jax/a.py": "def f():\n  import scipy\n"},
     "au_jax/a.py:2 imports scipy inside a function; import it at module level"),
    ({"au_jax/__init__.py": "", "au_jax/p/__init__.py": "from au_jax.p import m\n",
      "au_jax/p/m.py": "from . import n\n", "au_jax/p/n.py": "from .. import p\n"},
     "import circle"),
    ({"au_jax/__init__.py": "", "au_jax/predict.py": "", "au_jax/models/__init__.py": "",
      "au_jax/models/m/__init__.py": "",
      "au_jax/models/m/report.py": "from au_jax import predict\n"},
     "au_jax/models/m/report.py reaches au_jax.predict: au_jax/models/m/report.py:1"),
    ({"au_jax/__init__.py": "", "au_jax/predict.py": "", "au_jax/models/__init__.py": "",
      "au_jax/models/r.py": "import au_jax.viz\n",
      "au_jax/viz.py": "def f():\n  from au_jax.predict import P\n"},
     "au_jax/models/r.py reaches au_jax.predict: au_jax/models/r.py:1 -> au_jax/viz.py:2"),
    # a circle through the method table of au_jax/models/__init__.py
    ({"au_jax/__init__.py": "",
      "au_jax/models/__init__.py": "import importlib\nPACKAGES = {'m': 'au_jax.models.m'}\n"
                                   "def get(n):\n  return importlib.import_module(PACKAGES[n])\n",
      "au_jax/models/m/__init__.py": "from au_jax.models.m import model\n",
      "au_jax/models/m/model.py": "from au_jax.models import get\n"},
     "import circle: au_jax/models/__init__.py:2 -> au_jax/models/m/__init__.py:1"),
    # ... and through the table to au_jax.predict
    ({"au_jax/__init__.py": "", "au_jax/predict.py": "",
      "au_jax/models/__init__.py": "import importlib\nPACKAGES = {'m': 'au_jax.models.m'}\n"
                                   "def get(n):\n  return importlib.import_module(PACKAGES[n])\n",
      "au_jax/models/m.py": "import au_jax.predict\n"},
     "au_jax/models/__init__.py reaches au_jax.predict: au_jax/models/__init__.py:2"),
    ({"au_jax/__init__.py": "", "au_jax/a.py": "import importlib\n"
                                               "def f():\n  importlib.import_module('x')\n"},
     "au_jax/a.py:3 imports a module by name; import it, or list the file in DYNAMIC"),
    ({"au_jax/__init__.py": "", "au_jax/a.py": "def f():\n  __import__('au_jax.b')\n",
      "au_jax/b.py": ""},
     "au_jax/a.py:2 imports a module by name"),
])
def test_the_check_finds_what_it_looks_for(tmp_path, files, expected):
  problems = check(_write(tmp_path, files))
  assert any(p.startswith(expected) for p in problems), problems


def test_a_clean_package_passes(tmp_path):
  root = _write(tmp_path, {"au_jax/__init__.py": "", "au_jax/a.py": "import numpy\n",
                           "au_jax/b.py": "from au_jax import a\nfrom . import a as c\n"})
  assert check(root) == []
