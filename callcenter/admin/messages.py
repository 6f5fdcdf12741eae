"""Texts of the administration console in Chinese (zh-CN) and English; ``SCRIPT_KEYS`` go to
admin.js translated, so the script never holds a text."""

from __future__ import annotations

from typing import Final

from callcenter.import_messages import FIELD_NAMES

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
    "admin.import_summary": {
        "zh-CN": "新增 {created} 条，更新 {updated} 条，未变 {unchanged} 条，错误行 {bad} 行；",
        "en": "{created} created, {updated} updated, {unchanged} unchanged, {bad} bad row(s); "},
    "admin.import_committed": {"zh-CN": "已写入", "en": "committed"},
    "admin.import_not_committed": {"zh-CN": "未写入（没有任何改动）",
                                   "en": "NOT committed (nothing changed)"},
    # the import report's field names: callcenter.import_messages (shared with the CLI)
    **{f"admin.field.{name}": texts for name, texts in FIELD_NAMES.items()},
    "admin.settings": {"zh-CN": "运行参数", "en": "Run-time settings"},
    "admin.settings_hint": {"zh-CN": "保存后立即生效（大屏、统计报表与语音导航），无需重启；"
                                     "未修改的项沿用配置文件的值。",
                            "en": "Saved changes apply at once (wallboard, reports and the "
                                  "voice menu), without a restart; settings never changed "
                                  "keep the configuration files' values."},
    "admin.settings_alerts": {"zh-CN": "目标与告警阈值", "en": "Targets and alert thresholds"},
    "admin.settings_hours": {"zh-CN": "营业时间与节假日", "en": "Business hours and holidays"},
    "admin.set.answer_rate_pct": {"zh-CN": "接通率目标", "en": "Answer-rate target"},
    "admin.set.service_level_s": {"zh-CN": "服务水平：在此秒数内接听",
                                  "en": "Service level: answered within"},
    "admin.set.long_wait_s": {"zh-CN": "长时间等待告警", "en": "Long-wait alert after"},
    "admin.set.day_floor": {"zh-CN": "白天最少在线坐席", "en": "Agents online at least, day"},
    "admin.set.night_floor": {"zh-CN": "夜间最少在线坐席",
                              "en": "Agents online at least, night"},
    "admin.set.day_start": {"zh-CN": "白天开始", "en": "Day starts"},
    "admin.set.day_end": {"zh-CN": "白天结束（夜间开始）", "en": "Day ends (night starts)"},
    "admin.set.workdays": {"zh-CN": "调休上班日（逗号分隔）",
                           "en": "Make-up working days (comma-separated)"},
    "admin.set.holidays": {"zh-CN": "法定节假日", "en": "Statutory holidays"},
    "admin.holiday_name": {"zh-CN": "名称", "en": "Name"},
    "admin.holiday_start": {"zh-CN": "开始", "en": "From"},
    "admin.holiday_end": {"zh-CN": "结束（含）", "en": "To (inclusive)"},
    "admin.holiday_add": {"zh-CN": "添加节假日", "en": "Add a holiday"},
    "admin.holiday_remove": {"zh-CN": "删除", "en": "Remove"},
    "admin.settings_save": {"zh-CN": "保存运行参数", "en": "Save settings"},
    "admin.settings_same": {"zh-CN": "没有改动", "en": "Nothing changed"},
    "admin.origin_file": {"zh-CN": "配置文件", "en": "from the file"},
    "admin.origin_changed": {"zh-CN": "{by} 于 {at} 修改", "en": "changed by {by}, {at}"},
    "admin.reset_default": {"zh-CN": "恢复默认", "en": "Restore default"},
}

SCRIPT_KEYS: Final[tuple[str, ...]] = tuple(MESSAGES)
