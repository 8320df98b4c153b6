"""The PR lanes open no network socket: the guard in tests/conftest.py trips at once."""

import socket

import pytest
import pytest_socket


def test_this_lane_is_marked_hermetic(request):
    assert request.node.get_closest_marker("hermetic") is not None


def test_a_tcp_connect_raises_socket_blocked():
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=1)


def test_creating_an_inet_socket_raises_socket_blocked():
    with pytest.raises(pytest_socket.SocketBlockedError):
        socket.socket(socket.AF_INET, socket.SOCK_STREAM)


def test_unix_sockets_stay_available_for_local_ipc():
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        left.sendall(b"ok")
        assert right.recv(2) == b"ok"
