"""Texts of the wallboard and live monitoring in Chinese (zh-CN) and English.

``SCRIPT_KEYS`` are handed to wallboard.js, translated, so the script never holds a text.
"""

from __future__ import annotations

from typing import Final

MESSAGES: Final[dict[str, dict[str, str]]] = {
    "supervision.nav.wallboard": {"zh-CN": "实时监控墙", "en": "Wallboard"},
    "supervision.title": {"zh-CN": "实时监控墙", "en": "Wallboard"},
    "supervision.view.tv": {"zh-CN": "大屏模式", "en": "Wall TV view"},
    "supervision.view.normal": {"zh-CN": "普通模式", "en": "Normal view"},
    "supervision.live": {"zh-CN": "实时", "en": "Live"},
    "supervision.offline": {"zh-CN": "连接中断", "en": "Offline"},
    "supervision.queues": {"zh-CN": "队列", "en": "Queues"},
    "supervision.agents": {"zh-CN": "坐席", "en": "Agents"},
    "supervision.alerts": {"zh-CN": "告警", "en": "Alerts"},
    "supervision.audit": {"zh-CN": "监听记录", "en": "Monitoring audit"},
    "supervision.col.queue": {"zh-CN": "队列", "en": "Queue"},
    "supervision.col.waiting": {"zh-CN": "排队", "en": "Waiting"},
    "supervision.col.longest": {"zh-CN": "最长等待", "en": "Longest wait"},
    "supervision.col.offered": {"zh-CN": "呼入", "en": "Offered"},
    "supervision.col.answered": {"zh-CN": "接通", "en": "Answered"},
    "supervision.col.abandoned": {"zh-CN": "放弃", "en": "Abandoned"},
    "supervision.col.answer_rate": {"zh-CN": "接通率", "en": "Answer rate"},
    "supervision.col.sl": {"zh-CN": "服务水平(今日)", "en": "Service level today"},
    "supervision.col.sl30": {"zh-CN": "服务水平(30分钟)", "en": "Service level 30 min"},
    "supervision.col.asa": {"zh-CN": "平均应答", "en": "ASA"},
    "supervision.col.staff": {"zh-CN": "空闲/通话/整理/小休", "en": "Avail./call/wrap/paused"},
    "supervision.col.agent": {"zh-CN": "工号", "en": "Agent"},
    "supervision.col.name": {"zh-CN": "姓名", "en": "Name"},
    "supervision.col.state": {"zh-CN": "状态", "en": "State"},
    "supervision.col.in_state": {"zh-CN": "持续", "en": "In state"},
    "supervision.col.call": {"zh-CN": "当前通话", "en": "Current call"},
    "supervision.col.calls_today": {"zh-CN": "今日接听", "en": "Calls today"},
    "supervision.col.handle_today": {"zh-CN": "今日处理时长", "en": "Handle time today"},
    "supervision.col.actions": {"zh-CN": "操作", "en": "Actions"},
    "supervision.online": {"zh-CN": "在线坐席 {online} / 最低 {floor}",
                           "en": "Agents online {online} / minimum {floor}"},
    "supervision.target": {"zh-CN": "目标 {rate}", "en": "target {rate}"},
    "supervision.no_data": {"zh-CN": "—", "en": "—"},
    "supervision.no_alerts": {"zh-CN": "无告警", "en": "No alerts"},
    "supervision.alert.staffing": {"zh-CN": "在线坐席 {online} 人，低于最低 {floor} 人",
                                   "en": "{online} agents online, below the minimum of {floor}"},
    "supervision.alert.answer_rate": {"zh-CN": "{queue} 接通率 {rate} 低于目标 {target}",
                                      "en": "{queue}: answer rate {rate} below {target}"},
    "supervision.alert.long_wait": {"zh-CN": "{queue} 有来电已等待 {wait}",
                                    "en": "{queue}: a caller has waited {wait}"},
    "supervision.alert.dead_letter": {"zh-CN": "工单 {task} 推送失败(死信)",
                                      "en": "Task {task}: delivery dead-lettered"},
    "supervision.alert.complaint": {"zh-CN": "投诉升级：工单 {task}",
                                    "en": "Complaint escalated: task {task}"},
    "supervision.mode.listen": {"zh-CN": "监听", "en": "Listen"},
    "supervision.mode.whisper": {"zh-CN": "耳语", "en": "Whisper"},
    "supervision.mode.barge": {"zh-CN": "强插", "en": "Barge"},
    "supervision.monitor.stop": {"zh-CN": "停止", "en": "Stop"},
    "supervision.monitor.on": {"zh-CN": "{mode}中：{agent}", "en": "{mode}: agent {agent}"},
    "supervision.monitor.failed": {"zh-CN": "操作失败：{error}", "en": "Failed: {error}"},
    "supervision.force_pause": {"zh-CN": "强制小休", "en": "Force pause"},
    "supervision.force_logout": {"zh-CN": "强制签出", "en": "Force log-out"},
    "supervision.audit.when": {"zh-CN": "时间", "en": "When"},
    "supervision.audit.who": {"zh-CN": "操作人", "en": "Who"},
    "supervision.audit.what": {"zh-CN": "操作", "en": "What"},
    "supervision.audit.target": {"zh-CN": "坐席", "en": "Agent"},
}

SCRIPT_KEYS: Final = tuple(k for k in MESSAGES if not k.startswith("supervision.nav."))
