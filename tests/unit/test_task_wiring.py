"""tasks.py imports only the task modules a command names; its table matches the modules."""

from __future__ import annotations

import importlib

from invoke.collection import Collection

import tasks


def test_the_task_table_names_every_task_of_every_module_and_nothing_else():
    expected = {}
    for name in tasks.MODULES:
        collection = Collection()
        for task in importlib.import_module(f"tasks.{name}").TASKS:
            collection.add_task(task)
        expected.update(dict.fromkeys(collection.task_names, name))
    assert expected == tasks.TASK_MODULES


def test_the_in_process_collection_holds_every_task():
    top = {name for name in tasks.ns.task_names if "." not in name}
    assert top == set(tasks.TASK_MODULES)
    assert set(tasks.ns.collections) == set(tasks.COLLECTIONS)


def test_a_command_naming_one_task_loads_only_its_module():
    assert tasks.modules_for(["inv", "run-processor", "--ref", "demo/echo@1", "--json"]) == (
        ["run"], [])
    assert tasks.modules_for(["inv", "run_batch", "--ref", "x"]) == (["batch"], [])


def test_every_task_word_of_a_command_loads_its_module():
    assert tasks.modules_for(["inv", "check", "test-unit", "lock"]) == (["test", "lock"], [])


def test_anything_else_builds_the_whole_collection():
    everything = (list(tasks.MODULES), list(tasks.COLLECTIONS))
    for argv in (["inv"], ["inv", "--list"], ["inv", "-e", "run-processor"],
                 ["inv", "evidence.package"], ["inv", "no-such-task"], ["pytest", "tests"]):
        assert tasks.modules_for(argv) == everything, argv
