"""Page texts in Chinese (zh-CN) and English.

Each package that serves pages contributes its own ``MESSAGES`` mapping (key → {locale: text});
the web app merges them with :func:`merge`. A missing translation falls back to the other
language and then to the key, so a page never shows nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

LOCALES = ("zh-CN", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "app.title": {"zh-CN": "商户服务热线", "en": "Merchant Hotline"},
    "nav.home": {"zh-CN": "首页", "en": "Home"},
    "nav.logout": {"zh-CN": "退出", "en": "Log out"},
    "nav.lang": {"zh-CN": "English", "en": "中文"},
    "login.title": {"zh-CN": "登录", "en": "Log in"},
    "login.username": {"zh-CN": "工号 / 用户名", "en": "Agent number / user name"},
    "login.password": {"zh-CN": "密码", "en": "Password"},
    "login.submit": {"zh-CN": "登录", "en": "Log in"},
    "login.failed": {"zh-CN": "工号或密码错误", "en": "Wrong user name or password"},
    "login.throttled": {"zh-CN": "登录失败次数过多，请 {seconds} 秒后再试",
                        "en": "Too many failed logins: try again in {seconds} s"},
    "home.welcome": {"zh-CN": "欢迎，{name}", "en": "Welcome, {name}"},
    "home.pages": {"zh-CN": "可用页面", "en": "Your pages"},
    "role.agent": {"zh-CN": "坐席", "en": "Agent"},
    "role.supervisor": {"zh-CN": "主管", "en": "Supervisor"},
    "role.team_lead": {"zh-CN": "班组长", "en": "Team lead"},
    "role.dispatcher": {"zh-CN": "调度", "en": "Dispatcher"},
    "role.admin": {"zh-CN": "管理员", "en": "Administrator"},
    "error.title": {"zh-CN": "出错了", "en": "Something went wrong"},
    "error.forbidden": {"zh-CN": "您的角色无权访问此页面",
                        "en": "Your role may not open this page"},
    "error.not_found": {"zh-CN": "页面不存在", "en": "Page not found"},
}

Translator = Callable[..., str]


def merge(catalogues: Iterable[Mapping[str, Mapping[str, str]]]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for catalogue in catalogues:
        for key, texts in catalogue.items():
            merged.setdefault(key, {}).update(texts)
    return merged


def translator(catalogue: Mapping[str, Mapping[str, str]], locale: str) -> Translator:
    other = "en" if locale == "zh-CN" else "zh-CN"

    def t(key: str, **params: object) -> str:
        texts = catalogue.get(key, {})
        text = texts.get(locale) or texts.get(other) or key
        return text.format(**params) if params else text

    return t


def pick_locale(cookie: str | None, accept_language: str, default: str) -> str:
    """Cookie first (the user's choice), then the browser's first supported language."""
    if cookie in LOCALES:
        return str(cookie)
    for part in accept_language.split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("zh"):
            return "zh-CN"
        if tag.startswith("en"):
            return "en"
    return default
