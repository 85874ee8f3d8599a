package demo

import (
	"fmt"

	"github.com/lianlu/lianlu"
)

// The demo brand: 青禾电器 (Qinghe Appliances), a home-appliance maker that
// sells in its own shop online and in stores in China's large cities, ships
// from regional warehouses and runs its own after-sales service.

// BrandName is the simulated brand.
const BrandName = "青禾电器 Qinghe Appliances"

// Store is a store of the brand. The demo creates it through the store
// service with its opening hours, on-site skills, capacity, service radius
// and staff; the simulation then reads the hours back from the service.
type Store struct {
	Code, Name, City, Address string
	Lat, Lng                  float64
	// Hours are the local opening hours per weekday.
	Hours lianlu.OpeningHours
	// Skills are the on-site services its technicians do.
	Skills []string
	// Capacity is on-site jobs a day; Radius how far they go, in km.
	Capacity int
	Radius   float64
	// Batch is how often the store's POS uploads its sales, in minutes;
	// 0 is in real time. Stores on batch uploads show sync delays.
	Batch int
	// Weight is the store's share of foot traffic.
	Weight float64
}

// hours opens a store from open to close on weekdays and until weekend
// on Saturdays and Sundays ("HH:MM").
func hours(open, close, weekend string) lianlu.OpeningHours {
	h := lianlu.OpeningHours{}
	for i, d := range lianlu.Weekdays {
		h[d] = [][2]string{{open, close}}
		if i >= 5 {
			h[d] = [][2]string{{open, weekend}}
		}
	}
	return h
}

var (
	allSkills   = []string{lianlu.SkillInstall, lianlu.SkillRepair, lianlu.SkillFitting}
	installOnly = []string{lianlu.SkillInstall, lianlu.SkillFitting}
)

// Stores are real shopping streets of real cities, at their coordinates.
var Stores = []Store{
	{"SH-XJH", "上海徐家汇店", "上海", "上海市徐汇区虹桥路1号", 31.1956, 121.4365, hours("10:00", "22:00", "22:30"), allSkills, 4, 30, 0, 1.6},
	{"SH-LJZ", "上海陆家嘴店", "上海", "上海市浦东新区陆家嘴环路1000号", 31.2397, 121.4998, hours("10:00", "22:00", "22:00"), installOnly, 3, 25, 0, 1.4},
	{"SH-WJC", "上海五角场店", "上海", "上海市杨浦区淞沪路8号", 31.3006, 121.5140, hours("10:00", "21:30", "22:00"), allSkills, 2, 25, 60, 1.0},
	{"BJ-XD", "北京西单店", "北京", "北京市西城区西单北大街120号", 39.9097, 116.3740, hours("10:00", "22:00", "22:00"), allSkills, 4, 35, 0, 1.5},
	{"BJ-WJ", "北京望京店", "北京", "北京市朝阳区望京街10号", 39.9967, 116.4706, hours("10:00", "22:00", "22:30"), installOnly, 3, 30, 0, 1.2},
	{"BJ-ZGC", "北京中关村店", "北京", "北京市海淀区中关村大街15号", 39.9834, 116.3162, hours("09:30", "21:00", "21:30"), allSkills, 2, 25, 90, 1.0},
	{"GZ-TH", "广州天河店", "广州", "广州市天河区天河路208号", 23.1357, 113.3270, hours("10:00", "22:00", "22:30"), allSkills, 4, 35, 0, 1.4},
	{"GZ-BJL", "广州北京路店", "广州", "广州市越秀区北京路168号", 23.1250, 113.2690, hours("10:00", "22:30", "22:30"), installOnly, 2, 20, 30, 0.9},
	{"SZ-FT", "深圳福田店", "深圳", "深圳市福田区福华三路268号", 22.5410, 114.0550, hours("10:00", "22:00", "22:30"), allSkills, 4, 30, 0, 1.3},
	{"SZ-NS", "深圳南山店", "深圳", "深圳市南山区深南大道9668号", 22.5333, 113.9304, hours("10:00", "22:00", "22:00"), allSkills, 3, 30, 0, 1.1},
	{"HZ-WL", "杭州武林店", "杭州", "杭州市下城区延安路530号", 30.2741, 120.1629, hours("10:00", "22:00", "22:00"), allSkills, 3, 35, 0, 1.1},
	{"CD-CXL", "成都春熙路店", "成都", "成都市锦江区春熙路88号", 30.6570, 104.0810, hours("10:00", "22:30", "22:30"), allSkills, 3, 35, 0, 1.2},
	{"WH-JHL", "武汉江汉路店", "武汉", "武汉市江汉区江汉路118号", 30.5800, 114.2860, hours("10:00", "22:00", "22:00"), allSkills, 2, 35, 60, 0.9},
	{"NJ-XJK", "南京新街口店", "南京", "南京市秦淮区中山南路1号", 32.0418, 118.7844, hours("10:00", "22:00", "22:00"), allSkills, 3, 30, 0, 1.0},
	{"XA-ZL", "西安钟楼店", "西安", "西安市碑林区东大街1号", 34.2610, 108.9470, hours("10:00", "22:00", "22:00"), installOnly, 2, 30, 120, 0.8},
	{"CQ-JFB", "重庆解放碑店", "重庆", "重庆市渝中区民权路18号", 29.5575, 106.5770, hours("10:00", "22:30", "22:30"), allSkills, 3, 30, 0, 1.0},
	{"TJ-BJD", "天津滨江道店", "天津", "天津市和平区滨江道208号", 39.1206, 117.1990, hours("10:00", "21:30", "22:00"), allSkills, 2, 40, 60, 0.8},
	{"SZH-GQ", "苏州观前街店", "苏州", "苏州市姑苏区观前街245号", 31.3110, 120.6230, hours("10:00", "21:30", "22:00"), installOnly, 2, 30, 0, 0.8},
	{"CS-WY", "长沙五一广场店", "长沙", "长沙市芙蓉区黄兴中路188号", 28.1950, 112.9770, hours("10:00", "22:30", "22:30"), allSkills, 2, 30, 0, 0.8},
	{"QD-TD", "青岛台东店", "青岛", "青岛市市北区台东三路90号", 36.0780, 120.3580, hours("09:30", "21:00", "21:30"), allSkills, 2, 30, 90, 0.7},
	{"XM-ZS", "厦门中山路店", "厦门", "厦门市思明区中山路299号", 24.4560, 118.0800, hours("10:00", "22:00", "22:00"), installOnly, 2, 25, 0, 0.7},
	{"SY-ZJ", "沈阳中街店", "沈阳", "沈阳市沈河区中街路128号", 41.7960, 123.4590, hours("09:30", "21:00", "21:00"), allSkills, 2, 35, 60, 0.7},
	{"KM-NP", "昆明南屏街店", "昆明", "昆明市五华区南屏街88号", 25.0380, 102.7110, hours("10:00", "22:00", "22:00"), allSkills, 2, 30, 0, 0.6},
	{"ZZ-EQ", "郑州二七广场店", "郑州", "郑州市二七区二七路200号", 34.7530, 113.6650, hours("10:00", "22:00", "22:00"), allSkills, 2, 30, 120, 0.7},
}

// staffNames are the stores' sales staff and technicians; each store gets
// six of them, E01 to E06, the same for a store in every run.
var staffNames = []string{"王芳", "李娜", "张伟", "刘洋", "陈静", "杨帆", "赵敏", "黄磊", "周婷", "吴强", "徐丽", "孙浩", "马琳", "朱军", "胡颖", "郭鹏", "何雪", "高峰", "林晓", "罗斌"}

// staffOf returns the i-th store's staff.
func staffOf(i int) []lianlu.StaffMember {
	out := make([]lianlu.StaffMember, 6)
	for j := range out {
		out[j] = lianlu.StaffMember{Code: fmt.Sprintf("E%02d", j+1), Name: staffNames[(i*7+j*3)%len(staffNames)], Active: true}
	}
	return out
}

// Warehouse is a regional distribution centre.
type Warehouse struct {
	Code, Name, Address string
	Lat, Lng            float64
}

// Warehouses ship online orders from the nearest one that has stock.
var Warehouses = []Warehouse{
	{"WH-EAST", "华东仓（上海嘉定）", "上海市嘉定区嘉松北路6000号", 31.3740, 121.2650},
	{"WH-NORTH", "华北仓（北京大兴）", "北京市大兴区京开路88号", 39.7270, 116.3410},
	{"WH-SOUTH", "华南仓（广州黄埔）", "广州市黄埔区开创大道300号", 23.1060, 113.4590},
	{"WH-WEST", "西南仓（成都双流）", "成都市双流区物联大道168号", 30.5740, 103.9230},
	{"WH-CENTRAL", "华中仓（武汉东西湖）", "武汉市东西湖区走马岭路66号", 30.6190, 114.1370},
}

// City is where customers live: online orders ship to its districts.
type City struct {
	Name      string
	Lat, Lng  float64
	Weight    float64
	Districts []string
}

// Cities weigh online demand roughly by population and spending.
var Cities = []City{
	{"上海", 31.2304, 121.4737, 2.4, []string{"浦东新区", "徐汇区", "静安区", "闵行区", "杨浦区"}},
	{"北京", 39.9042, 116.4074, 2.3, []string{"朝阳区", "海淀区", "西城区", "丰台区", "通州区"}},
	{"广州", 23.1291, 113.2644, 1.6, []string{"天河区", "越秀区", "海珠区", "番禺区", "白云区"}},
	{"深圳", 22.5431, 114.0579, 1.6, []string{"福田区", "南山区", "宝安区", "龙岗区", "罗湖区"}},
	{"杭州", 30.2741, 120.1551, 1.1, []string{"西湖区", "拱墅区", "滨江区", "余杭区"}},
	{"成都", 30.5728, 104.0668, 1.2, []string{"锦江区", "武侯区", "高新区", "成华区"}},
	{"武汉", 30.5928, 114.3055, 1.0, []string{"江汉区", "武昌区", "洪山区", "汉阳区"}},
	{"南京", 32.0603, 118.7969, 0.9, []string{"鼓楼区", "秦淮区", "建邺区", "江宁区"}},
	{"西安", 34.3416, 108.9398, 0.8, []string{"雁塔区", "碑林区", "未央区"}},
	{"重庆", 29.5630, 106.5516, 1.0, []string{"渝中区", "江北区", "南岸区", "渝北区"}},
	{"天津", 39.3434, 117.3616, 0.8, []string{"和平区", "南开区", "河西区"}},
	{"苏州", 31.2989, 120.5853, 0.8, []string{"姑苏区", "工业园区", "吴中区"}},
	{"长沙", 28.2282, 112.9388, 0.7, []string{"芙蓉区", "岳麓区", "天心区"}},
	{"青岛", 36.0671, 120.3826, 0.6, []string{"市南区", "市北区", "崂山区"}},
	{"厦门", 24.4798, 118.0894, 0.5, []string{"思明区", "湖里区"}},
	{"沈阳", 41.8057, 123.4315, 0.6, []string{"沈河区", "和平区", "浑南区"}},
	{"昆明", 25.0389, 102.7183, 0.5, []string{"五华区", "盘龙区"}},
	{"郑州", 34.7466, 113.6254, 0.6, []string{"金水区", "二七区", "郑东新区"}},
	{"合肥", 31.8206, 117.2272, 0.5, []string{"蜀山区", "包河区"}},
	{"福州", 26.0745, 119.2965, 0.4, []string{"鼓楼区", "台江区"}},
}

// Category is a product category with its seasonality.
type Category struct {
	ID, Name string
	// Month is demand by calendar month (January first), 1 = average.
	Month [12]float64
	// Big appliances are delivered and installed at home, and get
	// on-site service requests.
	Big bool
	// Problems are the problem types its after-sales feedback names.
	Problems []string
}

// Categories of the catalogue. Air conditioners peak in summer, heaters
// and purifiers in winter, everything around 11.11 (applied separately).
var Categories = []Category{
	{"air_conditioner", "空调", [12]float64{0.4, 0.4, 0.6, 0.9, 1.4, 2.1, 2.6, 2.3, 1.1, 0.6, 0.6, 0.7}, true, []string{"noise", "not_cooling", "installation", "water_leak"}},
	{"refrigerator", "冰箱", [12]float64{1.0, 1.2, 0.9, 0.9, 1.0, 1.2, 1.3, 1.2, 1.0, 0.9, 1.0, 1.0}, true, []string{"noise", "not_cooling", "delivery_damage"}},
	{"washer", "洗衣机", [12]float64{1.0, 1.1, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.1, 1.1}, true, []string{"noise", "water_leak", "app_connectivity"}},
	{"kitchen", "厨房电器", [12]float64{1.3, 1.4, 0.9, 0.9, 1.0, 0.9, 0.8, 0.8, 1.0, 1.1, 1.1, 1.2}, false, []string{"installation", "missing_parts", "delivery_late"}},
	{"small_appliance", "生活小家电", [12]float64{1.3, 1.1, 0.9, 0.8, 0.8, 0.8, 0.8, 0.8, 0.9, 1.1, 1.4, 1.6}, false, []string{"app_connectivity", "noise", "delivery_late"}},
	{"water_heater", "热水器", [12]float64{1.6, 1.3, 1.0, 0.8, 0.7, 0.6, 0.6, 0.6, 0.8, 1.1, 1.5, 1.8}, true, []string{"heating_slow", "installation", "water_leak"}},
}

// Product is one SKU.
type Product struct {
	SKU, Name, Category string
	Price               lianlu.Money
	// Popularity weighs the SKU within its category.
	Popularity float64
}

func yuan(n int64) lianlu.Money { return lianlu.Money(n * 100) }

// Products of the catalogue.
var Products = []Product{
	{"QH-AC-35GW", "青禾 1.5匹 新一级变频空调挂机 KFR-35GW", "air_conditioner", yuan(2999), 1.6},
	{"QH-AC-26GW", "青禾 大1匹 变频空调挂机 KFR-26GW", "air_conditioner", yuan(2399), 1.2},
	{"QH-AC-72LW", "青禾 3匹 新一级变频立柜空调 KFR-72LW", "air_conditioner", yuan(7999), 0.5},
	{"QH-RF-520", "青禾 520升 十字对开门冰箱 一级能效", "refrigerator", yuan(4599), 1.0},
	{"QH-RF-306", "青禾 306升 风冷无霜三门冰箱", "refrigerator", yuan(2299), 1.3},
	{"QH-RF-600F", "青禾 600升 法式多门嵌入式冰箱", "refrigerator", yuan(7299), 0.4},
	{"QH-WM-10D", "青禾 10公斤 滚筒洗烘一体机", "washer", yuan(3299), 1.4},
	{"QH-WM-8B", "青禾 8公斤 波轮洗衣机", "washer", yuan(1299), 1.0},
	{"QH-KH-RH9", "青禾 侧吸式抽油烟机 21立方", "kitchen", yuan(2599), 0.9},
	{"QH-KH-DW13", "青禾 13套 嵌入式洗碗机", "kitchen", yuan(3999), 0.7},
	{"QH-KH-RC4", "青禾 IH 电饭煲 4升", "kitchen", yuan(699), 1.5},
	{"QH-SA-AF5", "青禾 空气炸锅 5升 可视", "small_appliance", yuan(399), 1.6},
	{"QH-SA-AP600", "青禾 空气净化器 除甲醛 CADR600", "small_appliance", yuan(1599), 0.9},
	{"QH-SA-RV8", "青禾 扫拖一体机器人 自动集尘", "small_appliance", yuan(2499), 0.8},
	{"QH-SA-HT22", "青禾 石墨烯取暖器 2200W", "small_appliance", yuan(599), 1.1},
	{"QH-WH-60E", "青禾 60升 电热水器 一级能效", "water_heater", yuan(1599), 1.2},
	{"QH-WH-16G", "青禾 16升 燃气热水器 零冷水", "water_heater", yuan(2799), 0.8},
}

// Campaign is a marketing campaign; its touches carry UTM context.
type Campaign struct {
	Name, Slug string
	// From and To are days before the simulation's end (From > To).
	From, To int
	// Lift multiplies online sessions while the campaign runs.
	Lift float64
	// Sources are the UTM sources (with medium) the campaign runs on.
	Sources [][2]string
	// Categories it promotes (empty: all).
	Categories []string
}

// Campaigns, placed relative to the end of the simulation so that every
// scale shows some running.
var Campaigns = []Campaign{
	{"冬季暖家节", "winter-warmth", 24, 0, 1.3, [][2]string{{"wechat", "social"}, {"douyin", "video"}, {"baidu", "cpc"}}, []string{"water_heater", "small_appliance"}},
	{"以旧换新 家电焕新", "trade-in", 400, 0, 1.1, [][2]string{{"baidu", "cpc"}, {"sms", "crm"}, {"wechat", "social"}}, nil},
	{"双十一 家电狂欢", "double-11", 32, 20, 1.8, [][2]string{{"douyin", "video"}, {"xiaohongshu", "social"}, {"wechat", "social"}, {"email", "crm"}}, nil},
	{"扫地机器人 新品首发", "robot-launch", 10, 3, 1.2, [][2]string{{"xiaohongshu", "social"}, {"douyin", "video"}}, []string{"small_appliance"}},
}

// Agents work the service queue.
var Agents = []string{"客服·王芳", "客服·李娜", "客服·张伟", "客服·刘洋", "客服·陈静", "客服·赵磊"}

// feedbackTexts are what customers write, by problem type.
var feedbackTexts = map[string][]string{
	"noise":            {"晚上运行声音有点大，影响睡眠。", "压缩机启动时有明显的嗡嗡声。", "用了一周开始有异响。"},
	"not_cooling":      {"制冷效果不如预期，房间降温很慢。", "设定16度但出风不凉。"},
	"installation":     {"安装师傅迟到了两个小时。", "安装后发现管线没有固定好。", "预约安装等了好几天。"},
	"water_leak":       {"室内机滴水，地板都湿了。", "洗衣机底部有漏水。"},
	"delivery_damage":  {"收到时外壳有凹痕。", "包装破损，门把手有划痕。"},
	"app_connectivity": {"App 一直连不上设备。", "配网失败，换了路由器也不行。"},
	"missing_parts":    {"少了一个安装支架。", "说明书和配件包没有寄到。"},
	"delivery_late":    {"比承诺的送达时间晚了三天。", "物流一直没有更新。"},
	"heating_slow":     {"加热到设定温度要很久。", "冬天出水温度不够高。"},
	"praise":           {"很满意，安装师傅很专业。", "外观漂亮，运行安静，推荐！", "送货快，客服态度好。"},
}
