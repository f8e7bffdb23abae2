"""Batch inference on the pandas engine needs no Ray: neither its nodes nor the logged model
import it, so a laptop's in-process run pays for none of it."""

import subprocess
import sys
import textwrap


def test_the_pandas_inference_path_never_imports_ray(tiny_logged_model):
    folder, _ = tiny_logged_model
    script = textwrap.dedent(
        f"""
        import sys
        import mlflow
        import pandas as pd
        from madewithml.pipelines.inference.nodes import predict_projects
        from madewithml.pipelines.inference.pipeline import create_pipeline

        create_pipeline()
        model = mlflow.pyfunc.load_model({str(folder)!r})
        projects = pd.DataFrame({{"title": ["a", "b", "c"], "description": ["x", "y", "z"]}})
        answers = predict_projects(model, projects, None, progress_rows=2)
        assert len(answers) == 3
        imported = sorted(m for m in sys.modules if m == "ray" or m.startswith("ray."))
        print(imported)
        sys.exit(1 if imported else 0)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False, timeout=300
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
