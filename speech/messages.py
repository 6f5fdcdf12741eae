"""Page texts of the transcript player and the transcript search, in Chinese and English."""

from __future__ import annotations

MESSAGES: dict[str, dict[str, str]] = {
    "speech.nav.search": {"zh-CN": "录音转写检索", "en": "Transcript search"},
    "speech.search.title": {"zh-CN": "按通话内容检索录音", "en": "Search recordings by words"},
    "speech.search.placeholder": {"zh-CN": "例如：投诉、退款", "en": "e.g. refund, complaint"},
    "speech.search.submit": {"zh-CN": "检索", "en": "Search"},
    "speech.search.none": {"zh-CN": "没有找到", "en": "Nothing found"},
    "speech.search.call": {"zh-CN": "通话", "en": "Call"},
    "speech.player.title": {"zh-CN": "录音与转写", "en": "Recording and transcript"},
    "speech.player.none": {"zh-CN": "尚未转写", "en": "Not transcribed yet"},
    "speech.player.hint": {"zh-CN": "点击文字跳到该处播放",
                           "en": "Click a word to play from there"},
    "speech.channel.caller": {"zh-CN": "来电方", "en": "Caller"},
    "speech.channel.agent": {"zh-CN": "坐席", "en": "Agent"},
    "speech.channel.mixed": {"zh-CN": "混合声道（未分离）", "en": "Mixed (one channel)"},
    "speech.off": {"zh-CN": "语音识别未启用：{reason}",
                   "en": "Speech recognition is off: {reason}"},
}
