"""One urllib3 connection pool of the wrapped client's HTTP session, and botocore's errors.

botocore's ``URLLib3Session.send`` finds the proxy, the pool manager and the pool, and sets the
pool's certificate options, on every request, then wraps the answer in an ``AWSResponse`` whose
headers it copies into a case-insensitive dict: about a fifth of a lean call's CPU. All of that
depends on the endpoint only, so :class:`Connection` does it once, with the session's own
methods (the same proxies, proxy headers, CA bundle, client certificate, socket options, pool
size and timeouts, and the same connections), then calls ``urlopen`` on the pool with the
arguments botocore passes and maps urllib3's exceptions to botocore's exactly as it does.

A pool closed under it (``client._endpoint.http_session.close()``, which sqsobs calls in a
forked child) is looked up again from the session's manager, as botocore would.
"""

from __future__ import annotations

import logging
import socket
from concurrent.futures import CancelledError
from typing import Any

from botocore import exceptions as bce
from botocore.awsrequest import AWSResponse
from botocore.httpsession import mask_proxy_url
from urllib3 import exceptions as ue
from urllib3.util.retry import Retry

__all__ = ["Connection", "Response"]

logger = logging.getLogger(__name__)


class Response(AWSResponse):
    """An ``AWSResponse`` read in full, keeping urllib3's case-insensitive headers as they are."""

    def __init__(self, url: str, status_code: int, headers: Any, raw: Any, content: bytes) -> None:
        self.url = url
        self.status_code = status_code
        self.headers = headers
        self.raw = raw
        self._content = content


class Connection:
    """Requests to one endpoint through one pool of the client's HTTP session."""

    def __init__(self, session: Any, url: str) -> None:
        self._session = session
        self._url = url
        self._proxy_url = session._proxy_config.proxy_url_for(url)
        self._target = session._get_request_target(url, self._proxy_url)
        self._no_retries = Retry(False)
        self._pool = self._fresh_pool()

    def _fresh_pool(self) -> Any:
        manager = self._session._get_connection_manager(self._url, self._proxy_url)
        pool = manager.connection_from_url(self._url)
        self._session._setup_ssl_cert(pool, self._url, self._session._verify)
        return pool

    def _urlopen(self, request: Any) -> Any:
        arguments = {
            "method": request.method,
            "url": self._target,
            "body": request.body,
            "headers": request.headers,
            "retries": self._no_retries,
            "assert_same_host": False,
            "preload_content": True,
            "decode_content": False,
            "chunked": False,
            "enforce_content_length": False,
        }
        try:
            return self._pool.urlopen(**arguments)
        except ue.ClosedPoolError:
            self._pool = self._fresh_pool()
            return self._pool.urlopen(**arguments)

    def send(self, request: Any) -> Response:
        """Send ``request`` (an ``AWSPreparedRequest``); raise what botocore's session raises."""
        url = request.url
        # The clauses of botocore's URLLib3Session.send, in its order.
        try:
            answer = self._urlopen(request)
            return Response(url, answer.status, answer.headers, answer, answer.data)
        except ue.SSLError as e:
            raise bce.SSLError(endpoint_url=url, error=e)  # noqa: B904 - as botocore raises
        except (ue.NewConnectionError, socket.gaierror) as e:
            raise bce.EndpointConnectionError(endpoint_url=url, error=e)  # noqa: B904
        except ue.ProxyError as e:
            proxy = mask_proxy_url(self._proxy_url)
            raise bce.ProxyConnectionError(proxy_url=proxy, error=e)  # noqa: B904
        except ue.ConnectTimeoutError as e:
            raise bce.ConnectTimeoutError(endpoint_url=url, error=e)  # noqa: B904
        except ue.ReadTimeoutError as e:
            raise bce.ReadTimeoutError(endpoint_url=url, error=e)  # noqa: B904
        except ue.ProtocolError as e:
            raise bce.ConnectionClosedError(error=e, request=request, endpoint_url=url)  # noqa: B904
        except CancelledError:
            raise
        except Exception as e:
            logger.debug("Exception received when sending urllib3 HTTP request", exc_info=True)
            raise bce.HTTPClientError(error=e)  # noqa: B904
