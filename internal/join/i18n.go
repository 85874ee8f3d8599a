package join

import (
	"net/http"

	"golang.org/x/text/language"
)

// Languages of the join page.
const (
	langZH = "zh-CN"
	langEN = "en"
)

// supported are the page's languages, the default first.
var supported = []language.Tag{language.MustParse(langZH), language.English}

var matcher = language.NewMatcher(supported)

// chooseLang picks the page language: ?lang= (the switch), then the form's
// lang field, then Accept-Language; Chinese by default.
func chooseLang(r *http.Request) string {
	for _, v := range []string{r.URL.Query().Get("lang"), r.PostFormValue("lang")} {
		if v == langZH || v == langEN {
			return v
		}
	}
	tags, _, _ := language.ParseAcceptLanguage(r.Header.Get("Accept-Language"))
	_, i, conf := matcher.Match(tags...)
	if conf == language.No {
		return langZH
	}
	if i == 1 {
		return langEN
	}
	return langZH
}

// messages are the page's texts by language. The console (internal/web)
// keeps its own catalogue; both are flat key → text maps so that they can
// later share one.
var messages = map[string]map[string]string{
	langZH: {
		"language_name":     "中文",
		"title":             "加入会员",
		"intro":             "欢迎光临！留下手机号，成为会员，享受会员价和专属优惠。",
		"phone_label":       "手机号",
		"phone_placeholder": "例如 138 0013 8000",
		"consent_label":     "我同意接收品牌的优惠和活动信息（可随时退订）",
		"submit":            "加入",
		"welcome_first":     "欢迎加入！您已成为会员。",
		"welcome_back":      "欢迎回来！已记录您本次到店。",
		"offers_title":      "您的优惠",
		"no_offers":         "暂无优惠，敬请期待。",
		"offers_elsewhere":  "您有会员优惠，请在首次加入会员时使用的手机上打开本页查看。",
		"coupon":            "券码",
		"valid_until":       "有效期至",
		"staff":             "为您服务的店员",
		"err_phone":         "请输入有效的手机号。",
		"err_rate":          "操作太频繁，请稍后再试。",
		"err_csrf":          "页面已过期，请重新提交。",
		"err_origin":        "请在本店二维码打开的页面上提交。",
		"err_not_member":    "请在首次加入会员时使用的手机上打开本页。",
		"consent_on":        "您正在接收品牌的优惠和活动信息。",
		"consent_off":       "您不接收品牌的优惠和活动信息。",
		"consent_withdraw":  "不再接收优惠信息",
		"consent_give":      "接收优惠信息",
		"consent_changed":   "已更新您的选择。",
		"err_store":         "找不到这家门店。",
		"err_unavailable":   "服务暂时不可用，请稍后再试。",
		"privacy":           "我们仅将您的手机号用于会员服务。",
	},
	langEN: {
		"language_name":     "English",
		"title":             "Join the membership",
		"intro":             "Welcome! Leave your phone number to become a member and get member prices and offers.",
		"phone_label":       "Phone number",
		"phone_placeholder": "e.g. 138 0013 8000",
		"consent_label":     "I agree to receive offers and news from the brand (unsubscribe at any time)",
		"submit":            "Join",
		"welcome_first":     "Welcome! You are a member now.",
		"welcome_back":      "Welcome back! We have noted your visit.",
		"offers_title":      "Your offers",
		"no_offers":         "No offers yet. Stay tuned.",
		"offers_elsewhere":  "You have member offers: open this page on the phone you first joined with to see them.",
		"coupon":            "Code",
		"valid_until":       "Valid until",
		"staff":             "Served by",
		"err_phone":         "Please enter a valid phone number.",
		"err_rate":          "Too many attempts. Please try again later.",
		"err_csrf":          "This page expired. Please submit again.",
		"err_origin":        "Please submit the form on the page this store's QR code opens.",
		"err_not_member":    "Open this page on the phone you first joined with.",
		"consent_on":        "You receive offers and news from the brand.",
		"consent_off":       "You do not receive offers and news from the brand.",
		"consent_withdraw":  "Stop receiving offers",
		"consent_give":      "Receive offers",
		"consent_changed":   "Your choice is saved.",
		"err_store":         "We could not find this store.",
		"err_unavailable":   "The service is unavailable. Please try again later.",
		"privacy":           "We use your phone number for the membership only.",
	},
}
