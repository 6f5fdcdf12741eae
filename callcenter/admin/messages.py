"""Texts of the administration console in Chinese (zh-CN) and English; ``SCRIPT_KEYS`` go to
admin.js translated, so the script never holds a text."""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "admin.nav": {"zh-CN": "系统管理", "en": "Administration"},
    "admin.title": {"zh-CN": "系统管理", "en": "Administration"},
    "admin.users": {"zh-CN": "账号", "en": "Accounts"},
    "admin.add": {"zh-CN": "新建账号", "en": "New account"},
    "admin.username": {"zh-CN": "用户名", "en": "User name"},
    "admin.display_name": {"zh-CN": "姓名", "en": "Name"},
    "admin.role": {"zh-CN": "角色", "en": "Role"},
    "admin.password": {"zh-CN": "初始密码", "en": "Initial password"},
    "admin.agent_number": {"zh-CN": "工号", "en": "Agent number"},
    "admin.interface": {"zh-CN": "话机", "en": "Phone"},
    "admin.queues": {"zh-CN": "队列（逗号分隔）", "en": "Queues (comma-separated)"},
    "admin.create": {"zh-CN": "创建", "en": "Create"},
    "admin.state": {"zh-CN": "状态", "en": "State"},
    "admin.active": {"zh-CN": "启用", "en": "Active"},
    "admin.disabled": {"zh-CN": "已停用", "en": "Disabled"},
    "admin.actions": {"zh-CN": "操作", "en": "Actions"},
    "admin.disable": {"zh-CN": "停用", "en": "Disable"},
    "admin.enable": {"zh-CN": "启用", "en": "Enable"},
    "admin.reset": {"zh-CN": "重置密码", "en": "Reset password"},
    "admin.new_password": {"zh-CN": "新密码（至少 8 位）：", "en": "New password (8+ characters):"},
    "admin.new_queues": {"zh-CN": "队列（逗号分隔）：", "en": "Queues (comma-separated):"},
    "admin.new_interface": {"zh-CN": "话机（如 PJSIP/8001）：", "en": "Phone (e.g. PJSIP/8001):"},
    "admin.change_role": {"zh-CN": "改角色", "en": "Change role"},
    "admin.change_queues": {"zh-CN": "改队列", "en": "Queues"},
    "admin.change_interface": {"zh-CN": "改话机", "en": "Phone"},
    "admin.done": {"zh-CN": "已保存", "en": "Saved"},
    "admin.import": {"zh-CN": "导入商户 / 机具", "en": "Import merchants / terminals"},
    "admin.import_merchants": {"zh-CN": "商户 CSV", "en": "Merchants CSV"},
    "admin.import_terminals": {"zh-CN": "机具 CSV", "en": "Terminals CSV"},
    "admin.upload": {"zh-CN": "上传", "en": "Upload"},
    "admin.import_bad": {"zh-CN": "有错误行，未写入任何数据：",
                         "en": "Bad rows: nothing was written:"},
    "admin.import_line": {"zh-CN": "第 {line} 行 · {field}：{message}",
                          "en": "line {line} · {field}: {message}"},
    "admin.audit": {"zh-CN": "审计日志", "en": "Audit log"},
    "admin.at": {"zh-CN": "时间", "en": "Time"},
    "admin.actor": {"zh-CN": "操作人", "en": "By"},
    "admin.action": {"zh-CN": "动作", "en": "Action"},
    "admin.target": {"zh-CN": "对象", "en": "Target"},
    "admin.details": {"zh-CN": "详情", "en": "Details"},
    "admin.refresh": {"zh-CN": "刷新", "en": "Refresh"},
    "admin.error": {"zh-CN": "操作失败", "en": "The action failed"},
}

SCRIPT_KEYS: Final[tuple[str, ...]] = tuple(MESSAGES)
